// `hookwatch redeliver --send-missing`: post paid events BTCPay never attempted (no delivery row, nothing queued
// ahead of them) to the webhook URL ourselves, composed as BTCPay composes a redelivery (WebhookSender.cs,
// CreateRedeliveryRequest: the common fields first, `isRedelivery: true`, a new `deliveryId`; 2-space indented JSON;
// `BTCPay-Sig: sha256=<HMAC-SHA256 of the exact bytes with the webhook secret>`). BTCPay itself cannot do it: its
// invoice page and API only redeliver an existing delivery (BTCPayServer/Controllers/UIInvoiceController.UI.cs).
//
// Safety: dry run unless --apply; refused for a webhook whose secret is not configured (the receiver would reject
// an unsigned event, or worse accept it); each (webhook, invoice, event) at most once: the intent is appended to a
// record file (JSON lines, fsync'd) before the POST, so a crash or a second run never sends it twice.
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { base58Id } from '../../btcpay/ids.ts';
import { urlKey } from '../../btcpay/redirects.ts';
import type { Secret } from '../../secret.ts';
import type { MissingEvent } from './plan.ts';

export interface WebhookSecret {
  url: string;
  secret: Secret;
}

export interface SendMissingItem {
  invoiceId: string;
  webhookId: string;
  type: string;
  action: 'would_send' | 'sent' | 'send_failed' | 'already_sent' | 'refused_no_secret';
  deliveryId?: string;
  status?: number;
  error?: string;
}

export interface SendResult {
  ok: boolean;
  status?: number;
  error?: string;
}

export interface SendMissingOptions {
  apply: boolean;
  storeId: string;
  webhooks: Map<string, { url: string }>;
  secrets: WebhookSecret[];
  recordFile: string;
  nowSec: number;
  /** POST the bytes; injected so tests and the CLI share one path. */
  post: (url: string, body: Buffer, headers: Record<string, string>) => Promise<SendResult>;
}

/** The redelivery body BTCPay would send for a paid invoice event. */
export function composeEvent(ev: Pick<MissingEvent, 'type' | 'invoice' | 'webhookId'>, storeId: string, deliveryId: string, eventSec: number): string {
  const specific = ev.type === 'InvoiceSettled' ? { manuallyMarked: false, overPaid: false } : {};
  return JSON.stringify(
    {
      deliveryId,
      webhookId: ev.webhookId,
      originalDeliveryId: deliveryId,
      isRedelivery: true,
      type: ev.type,
      timestamp: eventSec,
      ...specific,
      storeId,
      invoiceId: ev.invoice.id,
      metadata: ev.invoice.metadata ?? {},
    },
    null,
    2,
  );
}

const recordKey = (webhookId: string, invoiceId: string, type: string) => `${webhookId}|${invoiceId}|${type}`;

function readRecord(file: string): Set<string> {
  const done = new Set<string>();
  if (!existsSync(file)) return done;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { webhookId?: string; invoiceId?: string; type?: string };
      if (r.webhookId && r.invoiceId && r.type) done.add(recordKey(r.webhookId, r.invoiceId, r.type));
    } catch {
      /* a torn last line from a crash: the entries before it still count */
    }
  }
  return done;
}

function appendRecord(file: string, entry: object): void {
  appendFileSync(file, JSON.stringify(entry) + '\n', { mode: 0o600 });
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function sendMissing(events: MissingEvent[], o: SendMissingOptions): Promise<SendMissingItem[]> {
  const done = readRecord(o.recordFile);
  const out: SendMissingItem[] = [];
  for (const ev of events.filter((e) => e.state === 'never_attempted')) {
    const base = { invoiceId: ev.invoiceId, webhookId: ev.webhookId, type: ev.type };
    const key = recordKey(ev.webhookId, ev.invoiceId, ev.type);
    if (done.has(key)) {
      out.push({ ...base, action: 'already_sent' });
      continue;
    }
    const hook = o.webhooks.get(ev.webhookId);
    const secret = hook && o.secrets.find((s) => urlKey(s.url) === urlKey(hook.url))?.secret;
    if (!hook || !secret) {
      out.push({ ...base, action: 'refused_no_secret' });
      continue;
    }
    if (!o.apply) {
      out.push({ ...base, action: 'would_send' });
      continue;
    }
    const deliveryId = base58Id();
    const eventSec = ev.invoice.createdTime <= o.nowSec ? Math.max(ev.invoice.createdTime, paidSec(ev) ?? ev.invoice.createdTime) : o.nowSec;
    const bytes = Buffer.from(composeEvent(ev, o.storeId, deliveryId, eventSec), 'utf8');
    const sig = createHmac('sha256', Buffer.from(secret.reveal(), 'utf8')).update(bytes).digest('hex');
    // Intent first: at most once, even if we crash between the POST and the result.
    appendRecord(o.recordFile, { ...base, deliveryId, at: o.nowSec, state: 'sending' });
    done.add(key);
    const res = await o.post(hook.url, bytes, { 'content-type': 'application/json', 'btcpay-sig': `sha256=${sig}`, 'user-agent': 'hookwatch-send-missing' });
    appendRecord(o.recordFile, { ...base, deliveryId, at: o.nowSec, state: res.ok ? 'sent' : 'failed', ...(res.status ? { status: res.status } : {}) });
    const extra = { ...(res.status ? { status: res.status } : {}), ...(res.error ? { error: res.error } : {}) };
    out.push({ ...base, action: res.ok ? 'sent' : 'send_failed', deliveryId, ...extra });
  }
  return out;
}

/** The last payment's time, when the invoice list embedded payments. */
function paidSec(ev: MissingEvent): number | undefined {
  const times = (ev.invoice.paymentMethods ?? []).flatMap((p) => p.payments.map((x) => x.receivedDate));
  return times.length ? Math.max(...times) : undefined;
}

export function formatSendMissing(items: SendMissingItem[], apply: boolean, recordFile: string): string {
  if (!items.length) return '  send-missing: no never-attempted paid event to send';
  const verb: Record<SendMissingItem['action'], (i: SendMissingItem) => string> = {
    would_send: () => 'would send (add --apply)',
    sent: (i) => `SENT as delivery ${i.deliveryId} (HTTP ${i.status})`,
    send_failed: (i) =>
      `send FAILED (${i.status ? `HTTP ${i.status}` : i.error}); recorded, not retried: check the receiver, then remove its line from the record to try again`,
    already_sent: () => 'already sent by an earlier run (in the record): skipped',
    refused_no_secret: () =>
      "REFUSED: no webhook secret configured for this URL (add a direct-mode synthetic probe with signing.scheme btcpay and the webhook's secret targeting it)",
  };
  return [
    `  send-missing (${apply ? 'APPLIED' : 'DRY RUN'}, record ${recordFile}):`,
    ...items.map((i) => `    ${verb[i.action](i)}: ${i.type} invoice ${i.invoiceId} on webhook ${i.webhookId}`),
  ].join('\n');
}
