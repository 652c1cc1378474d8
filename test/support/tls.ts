import { execFileSync } from "node:child_process"
import * as path from "node:path"

/**
 * A self-signed certificate for loopback (localhost and 127.0.0.1, two days), made with the
 * machine's `openssl` as `DIR/cert.pem` and `DIR/key.pem`: for the TLS gateway and the fake Key
 * Vault. Clients trust it by its file (NODE_EXTRA_CA_CERTS, `--ca-bundle`).
 */
export const selfSignedCert = (dir: string) => {
  const cert = path.join(dir, "cert.pem")
  const key = path.join(dir, "key.pem")
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert
  ], { stdio: "ignore" })
  return { cert, key }
}
