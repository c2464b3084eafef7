// The `hookwatch redeliver` command body (the CLI parses options and calls this).
import type { SourceConfig } from '../../probe/types.ts';
import { createLogger } from '../../log.ts';
import { clientFromSource, explainApiError } from '../../btcpay/source.ts';
import { formatRedeliverReport, planRedelivery } from './plan.ts';

export async function runRedeliverCommand(o: {
  source: Extract<SourceConfig, { type: 'btcpay' }>;
  webhookId?: string;
  sinceMs: number;
  apply: boolean;
  format: 'text' | 'json';
  out: (s: string) => void;
  paidEvents?: string[];
}): Promise<number> {
  const client = clientFromSource(o.source, 60_000);
  const log = createLogger({ level: 'info' });
  try {
    const report = await planRedelivery(client, { ...(o.webhookId ? { webhookId: o.webhookId } : {}), sinceMs: o.sinceMs, nowMs: Date.now(), apply: o.apply, log, ...(o.paidEvents ? { paidEvents: o.paidEvents } : {}) });
    o.out(o.format === 'json' ? JSON.stringify(report, null, 2) : formatRedeliverReport(report));
    return report.items.some((i) => i.action === 'error' || i.action === 'not_sent') ? 1 : 0;
  } catch (e) {
    const { reason, cause } = explainApiError(e);
    o.out(o.format === 'json' ? JSON.stringify({ error: reason, cause }) : `error: ${reason}\n  ${cause}`);
    return 1;
  }
}
