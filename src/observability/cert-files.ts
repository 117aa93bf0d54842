// The secure metrics server's certificate: from --metrics-cert-file/--metrics-key-file, read
// again when either file changes (cert-manager renews a Secret, the kubelet swaps the mounted
// files), or else a self-signed one made in memory at start.
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { hostname } from "node:os";
import { OPERATOR_NAME } from "../api/constants.ts";
import { selfSignedCertificate, type ServingCertificate } from "./self-signed.ts";

/** How often the files are looked at (a stat of each). */
const POLL_MS = 10_000;

/** The pair in the files, checked to belong together; throws with the file and what is wrong. */
export function readCertificateFiles(certFile: string, keyFile: string): ServingCertificate {
  const cert = readFileSync(certFile, "utf8");
  const key = readFileSync(keyFile, "utf8");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!x509.checkPrivateKey(createPrivateKey(key))) {
    throw new Error(`the key in ${keyFile} does not belong to the certificate in ${certFile}`);
  }
  return { cert, key };
}

/** A self-signed certificate for this host, localhost and the loopback addresses. */
export function inMemoryCertificate(): ServingCertificate {
  return selfSignedCertificate({
    commonName: OPERATOR_NAME,
    altNames: [...new Set(["localhost", hostname()]), "127.0.0.1", "::1"],
  });
}

/** Calls `onChange` with the new pair (or the error reading it) when a file changes; returns stop. */
export function watchCertificateFiles(
  certFile: string,
  keyFile: string,
  onChange: (pair: ServingCertificate | Error) => void,
  intervalMs = POLL_MS,
): () => void {
  const reload = () => {
    try {
      onChange(readCertificateFiles(certFile, keyFile));
    } catch (err) {
      onChange(err instanceof Error ? err : new Error(String(err)));
    }
  };
  for (const file of [certFile, keyFile])
    watchFile(file, { interval: intervalMs, persistent: false }, reload);
  return () => {
    unwatchFile(certFile, reload);
    unwatchFile(keyFile, reload);
  };
}
