// BTCPay's permission model, shared by the client (start-up check) and the fake server (enforcement).
// A permission is a policy, optionally scoped to one store as `policy:storeId`. Policies form a tree:
// holding a parent grants its children (docs/btcpay-greenfield.md §8).

export const POLICIES = {
  unrestricted: 'unrestricted',
  modifyStoreSettings: 'btcpay.store.canmodifystoresettings',
  viewStoreSettings: 'btcpay.store.canviewstoresettings',
  modifyWebhooks: 'btcpay.store.webhooks.canmodifywebhooks',
  modifyInvoices: 'btcpay.store.canmodifyinvoices',
  viewInvoices: 'btcpay.store.canviewinvoices',
  createInvoice: 'btcpay.store.cancreateinvoice',
} as const;

const CHILDREN: Record<string, string[]> = {
  [POLICIES.modifyStoreSettings]: [POLICIES.modifyWebhooks, POLICIES.viewStoreSettings, POLICIES.modifyInvoices],
  [POLICIES.viewStoreSettings]: [POLICIES.viewInvoices],
  [POLICIES.modifyInvoices]: [POLICIES.viewInvoices, POLICIES.createInvoice],
};

/** Every policy a held policy grants, itself included. */
function closure(policy: string): Set<string> {
  const out = new Set<string>([policy]);
  const todo = [policy];
  while (todo.length) {
    for (const c of CHILDREN[todo.pop()!] ?? []) {
      if (out.has(c)) continue;
      out.add(c);
      todo.push(c);
    }
  }
  return out;
}

/** Does a key with `held` permissions get `required` (a policy name) on `storeId`? */
export function hasPermission(held: readonly string[], required: string, storeId: string): boolean {
  for (const p of held) {
    if (p === POLICIES.unrestricted) return true;
    const i = p.indexOf(':');
    const policy = i < 0 ? p : p.slice(0, i);
    const scope = i < 0 ? undefined : p.slice(i + 1);
    if (scope !== undefined && scope !== storeId) continue;
    if (closure(policy).has(required)) return true;
  }
  return false;
}

/** The required policies (unscoped names, or `policy:store` to pin a store) that `held` lacks for `storeId`. */
export function missingPermissions(held: readonly string[], required: readonly string[], storeId: string): string[] {
  return required.filter((r) => {
    const i = r.indexOf(':');
    return !hasPermission(held, i < 0 ? r : r.slice(0, i), i < 0 ? storeId : r.slice(i + 1));
  });
}
