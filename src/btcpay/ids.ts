// BTCPay's ids (webhooks, deliveries, invoices) are base58 of 16 random bytes, about 22 characters.
import { randomBytes } from 'node:crypto';

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function base58Id(bytes = 16): string {
  let n = BigInt('0x' + randomBytes(bytes).toString('hex'));
  let s = '';
  while (n > 0n) {
    s = B58[Number(n % 58n)] + s;
    n /= 58n;
  }
  return s.padStart(22, '1');
}
