// The simulated Greenfield API: routing, authentication, permission checks and error bodies
// (docs/btcpay-greenfield.md §1-§3, §7, §8; BTCPay: BTCPayServer/Plugins/Webhooks/Controllers/
// GreenfieldStoreWebhooksController.cs, BTCPayServer/Controllers/GreenField/GreenfieldInvoiceController.cs,
// BTCPayServer/Security/GreenField/GreenfieldAuthenticationHandler.cs).
import { asText } from '../../as-text.ts';
import { hasPermission, POLICIES } from '../../btcpay/permissions.ts';
import { FAKE_BTCPAY_VERSION } from './queue.ts';
import { publicDelivery, publicWebhook, type FakeDeliveryRow, type FakeInvoice, type FakePayment, type FakeWebhook } from './types.ts';

export interface ApiKeyRecord {
  label: string;
  permissions: string[];
  /** The key's user's role in the store; its rights cap the key's (none: the store owner). */
  storeRole?: StoreRole;
}

export type StoreRole = 'Owner' | 'Employee' | 'Guest';
/**
 * What a store role allows, as the policies it holds (BTCPay: BTCPayServer.Data/Migrations/
 * 20240229092905_AddManagerAndEmployeeToStoreRoles.cs and 20230504125505_StoreRoles.cs): Employee and Guest can
 * modify invoices but not webhooks.
 */
const ROLE_POLICIES: Record<StoreRole, string[]> = {
  Owner: [POLICIES.modifyStoreSettings],
  Employee: [POLICIES.modifyInvoices],
  Guest: [POLICIES.viewStoreSettings, POLICIES.modifyInvoices],
};

/** BTCPay's 403 body (BTCPayServer.Client/Models/GreenfieldPermissionAPIError.cs). */
export function missingPermission(policy: string): HttpFail {
  return new HttpFail(403, {
    code: 'missing-permission',
    message:
      `Insufficient API Permissions. Please use an API key with permission "${policy}". ` + "You can create an API key in your account's settings / Api Keys.",
    missingPermission: policy,
  });
}

/** What the routes need from the simulated server's state. */
export interface RouteHost {
  readonly storeId: string;
  readonly webhooks: Map<string, FakeWebhook>;
  readonly invoices: Map<string, FakeInvoice>;
  readonly keys: Map<string, ApiKeyRecord>;
  /** A server from before includePaymentMethods on the invoice list. */
  readonly legacyInvoiceList?: boolean;
  rowsOf(webhookId: string): FakeDeliveryRow[];
  rowById(id: string): FakeDeliveryRow | undefined;
  paymentsOf(invoiceId: string): { method: string; payments: FakePayment[] };
  createWebhook(w: WebhookInput): FakeWebhook;
  deleteWebhook(id: string): void;
  createInvoice(o: InvoiceInput): FakeInvoice;
  /** Queue a manual redelivery of a row; returns the new delivery id. */
  redeliver(row: FakeDeliveryRow): string;
}

export interface WebhookInput {
  url: string;
  secret?: string;
  enabled?: boolean;
  automaticRedelivery?: boolean;
  specificEvents?: string[];
  everything?: boolean;
}

export interface InvoiceInput {
  /** undefined: a top-up invoice (any amount). */
  amount?: number | string;
  currency?: string;
  metadata?: Record<string, unknown>;
  paymentMethod?: 'chain' | 'lightning';
  expirationMinutes?: number;
}

/** Raw response bodies (the stored request bytes) are passed through instead of JSON-encoded. */
export class RawBody {
  constructor(readonly text: string) {}
}

export class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly payload: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}
const notFound = (code: string, message: string) => new HttpFail(404, { code, message });
// Validation errors are 422 with an array of {path, message} (BTCPay: BTCPayServer.Abstractions/Extensions/GreenfieldExtensions.cs).
export const validationError = (path: string, message: string) => new HttpFail(422, [{ path, message }]);

const STATUS_ALIASES: Record<string, FakeInvoice['status']> = {
  new: 'New',
  paid: 'Processing',
  processing: 'Processing',
  complete: 'Settled',
  confirmed: 'Settled',
  settled: 'Settled',
  expired: 'Expired',
  invalid: 'Invalid',
};

export function route(host: RouteHost, method: string, url: URL, auth: string | undefined, rawBody: string): [number, unknown] {
  const p = url.pathname.replace(/\/+$/, '');
  if (method === 'GET' && p === '/api/v1/health') return [200, { synchronized: true }];
  const m = /^(token|bearer)\s+(\S+)/i.exec(auth ?? '');
  const key = m ? host.keys.get(m[2]!) : undefined;
  if (!key) return [401, { code: 'unauthenticated', message: 'Authentication is required for accessing this endpoint' }];
  try {
    return authed(host, method, p, url.searchParams, m![2]!, key, rawBody);
  } catch (e) {
    if (e instanceof HttpFail) return [e.status, e.payload];
    throw e;
  }
}

function authed(host: RouteHost, method: string, p: string, q: URLSearchParams, apiKey: string, key: ApiKeyRecord, rawBody: string): [number, unknown] {
  if (method === 'GET' && p === '/api/v1/api-keys/current') return [200, { apiKey, label: key.label, permissions: key.permissions }];
  if (method === 'GET' && p === '/api/v1/server/info') {
    return [200, { version: FAKE_BTCPAY_VERSION, onion: null, supportedPaymentMethods: ['BTC-CHAIN', 'BTC-LN'], fullySynched: true, syncStatus: [] }];
  }
  const sm = /^\/api\/v1\/stores\/([^/]+)(\/.*)?$/.exec(p);
  if (!sm) return [404, { code: 'not-found', message: 'Not found' }];
  const storeId = decodeURIComponent(sm[1]!);
  const rest = sm[2] ?? '';
  // A key's effective rights are its permissions limited by its user's store role; an unknown store is refused
  // like a missing permission (BTCPay: BTCPayServer/Security/PermissionAuthorizationHandler.cs).
  const need = (policy: string) => {
    const role = key.storeRole ? ROLE_POLICIES[key.storeRole] : undefined;
    if (!hasPermission(key.permissions, policy, storeId) || (role && !hasPermission(role, policy, storeId)) || storeId !== host.storeId) {
      throw missingPermission(policy);
    }
  };
  const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
  const json = () => {
    try {
      return rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
    } catch {
      throw validationError('', 'Invalid JSON body');
    }
  };
  if (parts[0] === 'webhooks') return webhookRoutes(host, method, parts, q, need, json);
  if (parts[0] === 'invoices') return invoiceRoutes(host, method, parts, q, need, json);
  need(POLICIES.viewStoreSettings);
  return [404, { code: 'not-found', message: 'Not found' }];
}

type Need = (policy: string) => void;
type Json = () => Record<string, unknown>;

function webhookRoutes(host: RouteHost, method: string, parts: string[], q: URLSearchParams, need: Need, json: Json): [number, unknown] {
  const [, wid, sub, did, action] = parts;
  // Since 2.4.0 a webhook id in the route is resolved to its store before authorization; an unknown (or deleted, or
  // another store's) webhook fails that step: 403 missing-permission, not 404 (BTCPay: BTCPayServer/Security/
  // BuiltInPermissionScopeProvider.cs with the webhookId query registered in Plugins/Webhooks/WebhooksPlugin.cs).
  if (wid && !host.webhooks.has(wid)) throw missingPermission(POLICIES.modifyWebhooks);
  need(POLICIES.modifyWebhooks);
  if (!wid) {
    if (method === 'GET') return [200, [...host.webhooks.values()].map(publicWebhook)];
    if (method === 'POST') {
      const created = host.createWebhook(webhookFromBody(json()));
      return [200, { ...publicWebhook(created), secret: created.secret }];
    }
  } else if (!sub) {
    const w = host.webhooks.get(wid);
    if (method === 'GET') {
      if (!w) throw notFound('webhook-not-found', 'The webhook was not found');
      return [200, publicWebhook(w)];
    }
    if (method === 'PUT') {
      if (!w) throw notFound('webhook-not-found', 'The webhook was not found');
      // PUT replaces the whole object; only an omitted/empty secret is kept (§2).
      const n = webhookFromBody(json());
      Object.assign(w, {
        url: n.url,
        enabled: n.enabled ?? true,
        automaticRedelivery: n.automaticRedelivery ?? true,
        authorizedEvents: { everything: n.everything ?? true, specificEvents: n.specificEvents ?? [] },
        secret: n.secret || w.secret,
      });
      return [200, publicWebhook(w)];
    }
    if (method === 'DELETE') {
      if (!w) throw notFound('webhook-not-found', 'The webhook was not found');
      host.deleteWebhook(wid);
      return [200, undefined];
    }
  } else if (sub === 'deliveries') {
    if (!did && method === 'GET') {
      // No existence check, no skip/cursor, no default limit: everything without count (§3).
      const list = host.rowsOf(wid);
      const c = q.get('count');
      let n = list.length;
      if (c !== null) {
        if (!/^-?\d+$/.test(c)) throw validationError('count', `The value '${c}' is not valid.`);
        n = Math.max(0, Math.min(list.length, Number(c)));
      }
      const out: unknown[] = [];
      for (let i = list.length - 1; i >= list.length - n; i--) out.push(publicDelivery(list[i]!));
      return [200, out];
    }
    const row = did ? host.rowById(did) : undefined;
    if (!row || row.webhookId !== wid) throw notFound('webhookdelivery-not-found', 'The webhook delivery was not found');
    if (!action && method === 'GET') return [200, publicDelivery(row)];
    const pruned = () => new HttpFail(409, { code: 'webhookdelivery-pruned', message: "This webhook delivery has been pruned, so it can't be redelivered" });
    if (action === 'request' && method === 'GET') {
      if (row.pruned) throw pruned();
      return [200, new RawBody(row.body)];
    }
    if (action === 'redeliver' && method === 'POST') {
      if (row.pruned) throw pruned();
      return [200, host.redeliver(row)];
    }
  }
  return [405, { code: 'method-not-allowed', message: 'Method not allowed' }];
}

function invoiceRoutes(host: RouteHost, method: string, parts: string[], q: URLSearchParams, need: Need, json: Json): [number, unknown] {
  const [, iid, sub] = parts;
  if (!iid && method === 'GET') {
    need(POLICIES.viewInvoices);
    // includePaymentMethods=true embeds each invoice's payment methods (GreenfieldInvoiceController.cs, ToModel).
    const withPm = q.get('includePaymentMethods') === 'true' && !host.legacyInvoiceList;
    const pm = (i: FakeInvoice) => (withPm ? { paymentMethods: paymentMethods(host, i) } : host.legacyInvoiceList ? {} : { paymentMethods: [] });
    return [200, listInvoices(host, q).map((i) => ({ ...i, ...pm(i) }))];
  }
  if (!iid && method === 'POST') {
    need(POLICIES.createInvoice);
    const b = json();
    // An omitted amount creates a top-up invoice (GreenfieldInvoiceController.cs, CreateInvoice).
    const amount = b.amount === undefined || b.amount === null ? undefined : asText(b.amount);
    if (amount !== undefined && !/^\d+(\.\d+)?$/.test(amount)) throw validationError('amount', 'The amount should be 0 or more.');
    const checkout = (b.checkout ?? {}) as Record<string, unknown>;
    const pms = checkout.paymentMethods as string[] | undefined;
    const exp = checkout.expirationMinutes as number | undefined;
    if (exp !== undefined && (!Number.isInteger(exp) || exp < 1)) {
      throw validationError('checkout.expirationMinutes', 'Expiration time must be at least 1 minute');
    }
    const inv = host.createInvoice({
      ...(amount !== undefined ? { amount } : {}),
      currency: (b.currency as string | undefined) ?? 'USD',
      metadata: (b.metadata as Record<string, unknown> | undefined) ?? {},
      paymentMethod: pms?.some((x) => /LN|Lightning/i.test(x)) ? 'lightning' : 'chain',
      ...(exp ? { expirationMinutes: exp } : {}),
    });
    return [200, host.invoices.get(inv.id)];
  }
  const inv = iid ? host.invoices.get(iid) : undefined;
  if (!sub && method === 'DELETE') {
    need(POLICIES.modifyInvoices);
    if (!inv) throw notFound('invoice-not-found', 'The invoice was not found');
    inv.archived = true;
    return [200, undefined];
  }
  need(POLICIES.viewInvoices);
  if (!inv) throw notFound('invoice-not-found', 'The invoice was not found');
  if (!sub && method === 'GET') return [200, inv];
  if (sub === 'payment-methods' && method === 'GET') return [200, paymentMethods(host, inv)];
  return [405, { code: 'method-not-allowed', message: 'Method not allowed' }];
}

function webhookFromBody(b: Record<string, unknown>): WebhookInput {
  const url = b.url;
  let ok = typeof url === 'string';
  try {
    if (ok) new URL(url as string);
  } catch {
    ok = false;
  }
  if (!ok) throw validationError('Url', 'Invalid url');
  const ae = (b.authorizedEvents ?? {}) as { everything?: boolean; specificEvents?: string[] };
  return {
    url: url as string,
    ...(typeof b.secret === 'string' ? { secret: b.secret } : {}),
    ...(typeof b.enabled === 'boolean' ? { enabled: b.enabled } : {}),
    ...(typeof b.automaticRedelivery === 'boolean' ? { automaticRedelivery: b.automaticRedelivery } : {}),
    everything: ae.everything ?? true,
    specificEvents: ae.specificEvents ?? [],
  };
}

function listInvoices(host: RouteHost, q: URLSearchParams): FakeInvoice[] {
  const statuses = new Set(
    q
      .getAll('status')
      .map((s) => STATUS_ALIASES[s.toLowerCase()])
      .filter((s): s is FakeInvoice['status'] => !!s),
  );
  const unix = (name: string) => {
    const v = q.get(name);
    if (v === null) return undefined;
    if (!/^-?\d+$/.test(v)) throw validationError(name, 'Invalid unix timestamp');
    return Number(v);
  };
  const start = unix('startDate');
  const end = unix('endDate');
  if (start !== undefined && end !== undefined && start > end) {
    throw new HttpFail(422, [
      { path: 'startDate', message: 'startDate should not be above endDate' },
      { path: 'endDate', message: 'endDate should not be below startDate' },
    ]);
  }
  const int = (name: string) => {
    const v = q.get(name);
    if (v === null) return undefined;
    if (!/^\d+$/.test(v)) throw validationError(name, `The value '${v}' is not valid.`);
    return Number(v);
  };
  const skip = int('skip') ?? 0;
  const take = int('take');
  const archived = q.get('includeArchived') === 'true';
  const all = [...host.invoices.values()]
    .map((inv, i) => ({ inv, i }))
    .filter(({ inv }) => (archived || !inv.archived) && (statuses.size === 0 || statuses.has(inv.status)))
    .filter(({ inv }) => (start === undefined || inv.createdTime >= start) && (end === undefined || inv.createdTime <= end))
    .sort((a, b) => b.inv.createdTime - a.inv.createdTime || b.i - a.i)
    .map(({ inv }) => inv);
  return all.slice(skip, take === undefined ? undefined : skip + take);
}

export function paymentMethods(host: RouteHost, inv: FakeInvoice): unknown[] {
  if (inv.type !== 'TopUp' && Number(inv.amount) === 0) return []; // a zero-amount invoice has no payment prompt
  const rec = host.paymentsOf(inv.id);
  const due = (Number(inv.amount) / 50_000).toFixed(8);
  const paid = rec.payments.reduce((s, p) => s + Number(p.value), 0).toFixed(8);
  return [
    {
      paymentMethodId: rec.method,
      currency: 'BTC',
      destination: rec.method === 'BTC-LN' ? 'lnbcrt1fake' : 'bcrt1qfakedestination',
      paymentLink: null,
      rate: '50000.00',
      paymentMethodPaid: paid,
      totalPaid: paid,
      due: Math.max(0, Number(due) - Number(paid)).toFixed(8),
      amount: due,
      paymentMethodFee: '0.00000000',
      activated: true,
      additionalData: {},
      payments: rec.payments,
    },
  ];
}
