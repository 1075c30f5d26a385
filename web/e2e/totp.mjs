// RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits): the codes an
// authenticator app would show for a base32 secret.
import { createHmac } from 'node:crypto';

function base32(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32(secret)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

export const stepNow = () => Math.floor(Date.now() / 30_000);

/** A code of a step after `usedStep` (the server refuses a step twice), waiting for it if needed. */
export async function freshCode(secret, usedStep) {
  while (stepNow() <= usedStep) await new Promise((r) => setTimeout(r, 500));
  const step = stepNow();
  return { code: totp(secret, step), step };
}
