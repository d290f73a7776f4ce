// Build-time generator (run by meson, never installed): turns the demo's files into a C++ source file
// holding each file as a byte array plus a table of {path, content type, bytes}, which the engine
// links, so the server serves them from its own binary and a user has no build step to run.
//
//   ringcast-embed OUTPUT.cpp URL_PATH=FILE [URL_PATH=FILE ...]
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

const char* content_type_for(const std::string& file) {
  struct Type {
    const char* extension;
    const char* type;
  };
  static const Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const Type& t : kTypes) {
    const size_t n = std::strlen(t.extension);
    if (file.size() >= n && file.compare(file.size() - n, n, t.extension) == 0) return t.type;
  }
  return nullptr;
}

// A C++ string literal for a path (paths are plain ASCII; quote and backslash escaped anyway).
std::string literal(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUTPUT.cpp URL_PATH=FILE...\n", argv[0]);
    return 2;
  }
  std::string code =
      "// Generated at build time by engine/routes/web/embed.cpp from the files named below; do not edit.\n"
      "#include \"engine/routes/demo.h\"\n\nnamespace ringcast {\nnamespace {\n\n";
  std::string table;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || arg[0] != '/') {
      std::fprintf(stderr, "embed: expected URL_PATH=FILE with URL_PATH starting with '/', got '%s'\n",
                   argv[i]);
      return 2;
    }
    const std::string path = arg.substr(0, eq);
    const std::string file = arg.substr(eq + 1);
    const char* type = content_type_for(file);
    if (!type) {
      std::fprintf(stderr, "embed: no content type known for '%s'\n", file.c_str());
      return 2;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "embed: cannot read '%s'\n", file.c_str());
      return 1;
    }
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                           std::istreambuf_iterator<char>());
    const std::string name = "kFile" + std::to_string(i - 2);
    code += "// " + path + " <- " + file + "\n";
    code += "constexpr unsigned char " + name + "[] = {";
    for (size_t b = 0; b < bytes.size(); ++b) {
      char number[8];
      const int n = std::snprintf(number, sizeof number, " %u,", static_cast<unsigned>(bytes[b]));
      if (b % 20 == 0) code.append("\n   ");
      code.append(number, static_cast<size_t>(n));
    }
    if (bytes.empty()) code += "0";  // a zero-length array is not C++; size below stays 0
    code += "\n};\n\n";
    table += "    {" + literal(path) + ", " + literal(type) + ", " + name + ", " +
             std::to_string(bytes.size()) + "},\n";
  }
  code += "}  // namespace\n\nconst WebAsset kWebAssets[] = {\n" + table + "};\n";
  code +=
      "const size_t kWebAssetCount = sizeof(kWebAssets) / sizeof(kWebAssets[0]);\n\n}  // namespace "
      "ringcast\n";
  std::FILE* out = std::fopen(argv[1], "wb");
  if (!out || std::fwrite(code.data(), 1, code.size(), out) != code.size() || std::fclose(out) != 0) {
    std::fprintf(stderr, "embed: cannot write '%s'\n", argv[1]);
    return 1;
  }
  return 0;
}
