// Payment methods per invoice (which family paid it, when the last payment arrived): embedded in the invoice list
// on 2.x servers, else one call per invoice, bounded in parallel. Cached in the store's state.
import { BtcpayError, type BtcpayClient } from '../../src/clients/btcpay/client.ts';
import type { Invoice } from '../../src/clients/btcpay/schemas.ts';
import { forEachLimited } from '../../src/limited.ts';
import type { Method } from './evaluate.ts';
import { trackInvoice, type InvoiceMeta, type PaidState } from './state.ts';

/** Payment methods once per invoice (cached): from the list, else one call each, in parallel, bounded. Returns the calls made. */
export async function fillMeta(client: BtcpayClient, st: PaidState, invoices: Invoice[], signal: AbortSignal): Promise<number> {
  const needMeta: Invoice[] = [];
  for (const inv of invoices) {
    if (st.invoices.has(inv.id)) continue;
    const m = metaFromList(inv);
    if (m) st.invoices.set(inv.id, trackInvoice(m));
    else needMeta.push(inv);
  }
  return fetchMeta(client, st, needMeta, META_CONCURRENCY, signal);
}

function family(pmId: string | null | undefined): Method {
  return /LN|LNURL|Lightning/i.test(pmId ?? '') ? 'lightning' : 'chain';
}

/** Payment-method calls in flight at once on a poll that needs many (first poll after a start). */
const META_CONCURRENCY = 8;

/** Track `todo` in st.invoices with at most `concurrency` calls at once; stops at the first failure or abort. */
async function fetchMeta(client: BtcpayClient, st: PaidState, todo: Invoice[], concurrency: number, signal: AbortSignal): Promise<number> {
  const calls = await forEachLimited(
    todo,
    concurrency,
    async (inv) => void st.invoices.set(inv.id, trackInvoice(await invoiceMeta(client, inv, signal))),
    signal,
  );
  if (signal.aborted && todo.some((i) => !st.invoices.has(i.id))) throw new BtcpayError('payment methods: aborted', 'timeout');
  return calls;
}

async function invoiceMeta(client: BtcpayClient, inv: Invoice, signal: AbortSignal): Promise<InvoiceMeta> {
  return metaOf(inv, await client.invoicePaymentMethods(inv.id, { signal }));
}

/**
 * Meta from the payment methods the list embedded. undefined when the list carried none for an invoice that must
 * have some (a server older than includePaymentMethods): the caller asks per invoice. A zero-amount invoice
 * legitimately has none.
 */
function metaFromList(inv: Invoice): InvoiceMeta | undefined {
  if (inv.paymentMethods?.length) return metaOf(inv, inv.paymentMethods);
  return inv.type !== 'TopUp' && Number(inv.amount) === 0 ? metaOf(inv, []) : undefined;
}

function metaOf(inv: Invoice, pms: Array<{ paymentMethodId: string; payments: Array<{ receivedDate: number }> }>): InvoiceMeta {
  const paid = pms.filter((p) => p.payments.length > 0);
  const lastPaymentSec = paid
    .flatMap((p) => p.payments.map((x) => x.receivedDate))
    .reduce<number | undefined>((m, x) => (m === undefined || x > m ? x : m), undefined);
  const method = family(paid[0]?.paymentMethodId ?? inv.checkout?.defaultPaymentMethod ?? inv.checkout?.paymentMethods?.[0]);
  return { method, ...(lastPaymentSec !== undefined ? { lastPaymentSec } : {}) };
}
