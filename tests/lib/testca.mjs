// A throw-away certificate authority for the node and browser TLS tests, made with the openssl
// command line in a temporary directory exactly as tests/lib/testca.py makes it: a CA, server
// certificates for 127.0.0.1 and localhost signed by it, and a second CA that signed nothing the
// server uses (a client trusting only that one must refuse the server). Nothing is committed; the
// directory goes when the process exits.
//
//   const ca = new TestCa();
//   ca.caCert, ca.otherCaCert            // PEM file paths: the CA clients trust, and one that signed nothing
//   const { cert, key } = ca.server('a') // a server certificate and key (ECDSA P-256 unless { rsa: true })
//   ca.spkiHash(cert)                    // base64 SHA-256 of the certificate's public key (Chromium's
//                                        // --ignore-certificate-errors-spki-list takes these)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';

function openssl(args, { cwd, input } = {}) {
  return execFileSync('openssl', args, { cwd, input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export class TestCa {
  constructor() {
    this.dir = mkdtempSync(joinPath(tmpdir(), 'ringcast-ca-'));
    process.on('exit', () => this.cleanup());
    [this.caCert, this.caKey] = this.makeCa('ca', 'ringcast test CA');
    [this.otherCaCert] = this.makeCa('other-ca', "somebody else's CA");
  }

  cleanup() { rmSync(this.dir, { recursive: true, force: true }); }

  path(name) { return joinPath(this.dir, name); }

  // The PEM bytes of a file this CA made (what node's `ca` options take).
  read(file) { return readFileSync(file); }

  makeCa(name, subject) {
    const cert = this.path(`${name}.crt`);
    const key = this.path(`${name}.key`);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${subject}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { cwd: this.dir });
    return [cert, key];
  }

  // A server certificate (and its key) for `hosts`, signed by this CA.
  server(name = 'server', { rsa = false, hosts = ['127.0.0.1', 'localhost'] } = {}) {
    const cert = this.path(`${name}.crt`);
    const key = this.path(`${name}.key`);
    const csr = this.path(`${name}.csr`);
    const ext = this.path(`${name}.ext`);
    const alt = hosts.map((h) => (/^\d/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    writeFileSync(ext, `subjectAltName=${alt}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    const newkey = rsa ? ['rsa:2048'] : ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    openssl(['req', '-new', '-newkey', ...newkey, '-nodes', '-keyout', key, '-out', csr,
      '-subj', `/CN=${hosts[0]}`], { cwd: this.dir });
    openssl(['x509', '-req', '-in', csr, '-CA', this.caCert, '-CAkey', this.caKey, '-CAcreateserial',
      '-out', cert, '-days', '2', '-extfile', ext], { cwd: this.dir });
    return { cert, key };
  }

  // base64(SHA-256(SubjectPublicKeyInfo DER)) of a certificate: the public key taken out by openssl
  // (`x509 -pubkey`, then `pkey -pubin -outform DER`), hashed.
  spkiHash(certFile) {
    const pem = openssl(['x509', '-in', certFile, '-noout', '-pubkey']);
    const der = openssl(['pkey', '-pubin', '-outform', 'DER'], { input: pem });
    return createHash('sha256').update(der).digest('base64');
  }
}
