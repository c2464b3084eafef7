// The `hookwatch redeliver` command body (the CLI parses options and calls this).
import { dirname, join } from 'node:path';
import type { LoadedConfig, SourceConfig } from '../../probe/types.ts';
import type { Secret } from '../../secret.ts';
import { createLogger } from '../../log.ts';
import { clientFromSource, explainApiError } from '../../btcpay/source.ts';
import { httpRequest } from '../../clients/http/index.ts';
import { formatRedeliverReport, planRedelivery } from './plan.ts';
import { formatSendMissing, sendMissing, type WebhookSecret } from './send-missing.ts';

/**
 * Webhook secrets the config holds: the signing secret of every direct-mode synthetic probe signing as BTCPay does,
 * for each of its targets (the webhook URL it stands in for).
 */
export function webhookSecretsFromConfig(config: Pick<LoadedConfig, 'probes'>): WebhookSecret[] {
  const out: WebhookSecret[] = [];
  for (const p of config.probes) {
    if (p.type !== 'synthetic') continue;
    const signing = p.signing as { scheme?: string; secret?: Secret } | undefined;
    if (signing?.scheme !== 'btcpay' || !signing.secret || !Array.isArray(p.targets)) continue;
    for (const t of p.targets as unknown[]) if (typeof t === 'string') out.push({ url: t, secret: signing.secret });
  }
  return out;
}

/** Where --send-missing keeps what it sent: beside the config file unless told. */
export function defaultRecordFile(configFile: string): string {
  return join(dirname(configFile), '.hookwatch-send-missing.jsonl');
}

export async function runRedeliverCommand(o: {
  source: Extract<SourceConfig, { type: 'btcpay' }>;
  webhookId?: string;
  sinceMs: number;
  apply: boolean;
  format: 'text' | 'json';
  out: (s: string) => void;
  paidEvents?: string[];
  /** A retry younger than this means BTCPay is still on it (default: derived from its retry schedule). */
  pendingSeconds?: number;
  /** Post never-attempted paid events ourselves (dry run unless apply). */
  sendMissing?: { secrets: WebhookSecret[]; recordFile: string };
  verifyMs?: number;
  /** The command's clock (default now). */
  nowMs?: number;
}): Promise<number> {
  const nowMs = o.nowMs ?? Date.now();
  const client = clientFromSource(o.source, 60_000);
  const log = createLogger({ level: 'info' });
  try {
    const report = await planRedelivery(client, {
      ...(o.webhookId ? { webhookId: o.webhookId } : {}),
      sinceMs: o.sinceMs,
      nowMs,
      apply: o.apply,
      log,
      ...(o.paidEvents ? { paidEvents: o.paidEvents } : {}),
      ...(o.verifyMs !== undefined ? { verifyMs: o.verifyMs } : {}),
      ...(o.pendingSeconds !== undefined ? { pendingSeconds: o.pendingSeconds } : {}),
    });
    let sent: Awaited<ReturnType<typeof sendMissing>> | undefined;
    if (o.sendMissing) {
      const hooks = new Map((await client.listWebhooks()).map((h) => [h.id, { url: h.url }]));
      sent = await sendMissing(report.missing, {
        apply: o.apply,
        storeId: o.source.storeId,
        webhooks: hooks,
        secrets: o.sendMissing.secrets,
        recordFile: o.sendMissing.recordFile,
        nowSec: Math.floor(nowMs / 1000),
        post: async (url, body, headers) => {
          const r = await httpRequest({ url, method: 'POST', body, headers, connectTimeoutMs: 10_000, responseTimeoutMs: 30_000, maxBodyBytes: 1024 });
          return { ok: r.ok, ...(r.status !== undefined ? { status: r.status } : {}), ...(r.failure ? { error: r.failure.message } : {}) };
        },
      });
    }
    // Invoices are inputs of --send-missing, not output.
    const missing = report.missing.map(({ invoice: _i, ...m }) => m);
    const json = () => JSON.stringify({ ...report, missing, ...(sent ? { sendMissing: sent } : {}) }, null, 2);
    o.out(o.format === 'json' ? json() : formatRedeliverReport(report) + (sent ? '\n' + formatSendMissing(sent, o.apply, o.sendMissing!.recordFile) : ''));
    const bad =
      report.items.some((i) => i.action === 'error' || i.action === 'not_sent') ||
      (sent ?? []).some((i) => i.action === 'send_failed' || i.action === 'refused_no_secret');
    return bad ? 1 : 0;
  } catch (e) {
    const { reason, cause } = explainApiError(e);
    o.out(o.format === 'json' ? JSON.stringify({ error: reason, cause }) : `error: ${reason}\n  ${cause}`);
    return 1;
  }
}
