"""A throw-away certificate authority for the TLS tests, made with the openssl command line in a
temporary directory: a CA, server certificates for 127.0.0.1 and localhost signed by it, and a second
CA that signed nothing the server uses (a client trusting only that one must refuse the server).

    ca = TestCa()               # files under ca.dir, removed with ca.cleanup() (or `with TestCa() as ca`)
    ca.ca_cert                  # the CA certificate clients trust
    cert, key = ca.server("a")  # a server certificate and key (ECDSA P-256 unless rsa=True)
    ca.other_ca_cert            # a CA that did not sign it
    ca.ssl_context()            # a python client context trusting ca.ca_cert
"""

import os
import shutil
import ssl
import subprocess
import tempfile


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class TestCa:
    def __init__(self, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="ringcast-ca-")
        self._own_dir = directory is None
        self.ca_cert, self.ca_key = self._make_ca("ca", "ringcast test CA")
        self.other_ca_cert, _ = self._make_ca("other-ca", "somebody else's CA")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def cleanup(self):
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _make_ca(self, name, subject):
        cert, key = self.path(name + ".crt"), self.path(name + ".key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + subject,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        return cert, key

    def server(self, name="server", rsa=False, hosts=("127.0.0.1", "localhost"), ca=None):
        """A server certificate (and its key) for `hosts`, signed by this CA (or `ca`=(cert, key))."""
        cert, key, csr = self.path(name + ".crt"), self.path(name + ".key"), self.path(name + ".csr")
        ext = self.path(name + ".ext")
        alt = ",".join(("IP:" if h[0].isdigit() else "DNS:") + h for h in hosts)
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n" % alt)
        newkey = ["rsa:2048"] if rsa else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        _openssl("req", "-new", "-newkey", *newkey, "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/CN=" + hosts[0], cwd=self.dir)
        ca_cert, ca_key = ca or (self.ca_cert, self.ca_key)
        _openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", cert, "-days", "2", "-extfile", ext, cwd=self.dir)
        return cert, key

    def ssl_context(self, ca_cert=None):
        """A client context that trusts only `ca_cert` (this CA by default) and checks host names."""
        context = ssl.create_default_context(cafile=ca_cert or self.ca_cert)
        return context
