// zod shapes of the Greenfield responses the monitor reads (docs/btcpay-greenfield.md §2, §3, §7, §8). Objects are
// loose: newer servers add fields, and a monitor must not break on them. Only what we use is required.
import { z } from 'zod';

const unix = z.number().int();
const decimal = z.string().regex(/^-?\d+(\.\d+)?(E[+-]?\d+)?$/i, 'expected a decimal string');

export const ApiKeySchema = z.looseObject({
  label: z.string().nullable().optional(),
  permissions: z.array(z.string()),
});

/** GET /api/v1/stores entries (BTCPayServer.Client/Models/StoreData.cs): only the id and archived flag are read; names never are. */
export const StoreSchema = z.object({ id: z.string().min(1).max(128), archived: z.boolean().nullish() });

export const WebhookSchema = z.looseObject({
  id: z.string().min(1),
  enabled: z.boolean(),
  automaticRedelivery: z.boolean(),
  url: z.string(),
  authorizedEvents: z.looseObject({
    everything: z.boolean(),
    specificEvents: z.array(z.string()).nullable().optional(),
  }),
  secret: z.string().optional(),
});
export type Webhook = z.infer<typeof WebhookSchema>;

export const DeliveryStatus = z.enum(['Failed', 'HttpError', 'HttpSuccess']);
export const DeliverySchema = z.looseObject({
  id: z.string().min(1),
  timestamp: unix,
  /** 2.3.4+; older rows were back-filled with timestamp, and older servers omit it. */
  deliveryTime: unix.nullable().optional(),
  httpCode: z.number().int().nullable().optional(),
  errorMessage: z.string().nullable().optional(),
  status: DeliveryStatus,
});
export type Delivery = z.infer<typeof DeliverySchema>;

/** The parts of a stored webhook request body we need; pre-1.1.0 servers spelled orignalDeliveryId. */
export const DeliveryBodySchema = z.looseObject({
  deliveryId: z.string().optional(),
  webhookId: z.string().optional(),
  originalDeliveryId: z.string().nullable().optional(),
  orignalDeliveryId: z.string().nullable().optional(),
  isRedelivery: z.boolean().optional(),
  type: z.string(),
  timestamp: unix.optional(),
  storeId: z.string().optional(),
  invoiceId: z.string().optional(),
});
export type DeliveryBody = z.infer<typeof DeliveryBodySchema>;

export const InvoiceStatus = z.enum(['New', 'Processing', 'Expired', 'Invalid', 'Settled']);
export const InvoiceSchema = z.looseObject({
  id: z.string().min(1),
  storeId: z.string().optional(),
  amount: decimal,
  currency: z.string().nullable().optional(),
  createdTime: unix,
  expirationTime: unix.optional(),
  status: InvoiceStatus,
  type: z.string().optional(),
  additionalStatus: z.string(),
  archived: z.boolean().optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  checkout: z
    .looseObject({
      paymentMethods: z.array(z.string()).nullable().optional(),
      defaultPaymentMethod: z.string().nullable().optional(),
    })
    .nullable()
    .optional(),
});
export const PaymentSchema = z.looseObject({
  id: z.string(),
  receivedDate: unix,
  value: decimal,
  status: z.string(),
});
export const PaymentMethodSchema = z.looseObject({
  paymentMethodId: z.string(),
  amount: decimal.optional(),
  totalPaid: decimal.optional(),
  payments: z.array(PaymentSchema),
});
/** With includePaymentMethods=true on 2.x servers; [] or absent otherwise. */
export const InvoiceWithPaymentsSchema = InvoiceSchema.extend({ paymentMethods: z.array(PaymentMethodSchema).nullable().optional() });
export type Invoice = z.infer<typeof InvoiceWithPaymentsSchema>;
export type PaymentMethod = z.infer<typeof PaymentMethodSchema>;

export const ErrorBodySchema = z.looseObject({ code: z.string(), message: z.string().optional(), missingPermission: z.string().optional() });
