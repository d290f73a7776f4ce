// Resolving a validated Config into Settings (see settings.h).
#include "engine/settings.h"

#include <string_view>

#include "engine/base/check.h"
#include "engine/conn/access.h"

namespace ringcast {

Settings resolve_settings(const Config& config) {
  Settings s;
  s.publish.room_name_bytes_max = config.room_name_bytes_max;
  s.publish.user_id_bytes_max = config.user_id_bytes_max;
  const bool charset_known = parse_room_charset(config.room_name_charset, s.publish.room_charset);
  RC_ASSERT(charset_known);  // validate() checked it
  s.allowed_origins = split_list(config.allowed_origins);
  s.nano = nano_enabled(config);
  if (s.nano) {
    const std::vector<std::string> routes = split_list(config.nano_routes);
    const std::vector<std::string_view> views(routes.begin(), routes.end());
    const pomelo::RouteDictError e = pomelo::RouteDict::build(views, s.nano_routes);
    RC_ASSERT(e == pomelo::RouteDictError::none);  // validate() built it once already
  }
  return s;
}

}  // namespace ringcast
