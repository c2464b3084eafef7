// The simulated world the benchmarks run against (BTCPay, receivers, DNS lab, Prometheus/Alertmanager,
// the agent as a child process). Imported from one place so a move of these helpers is a one-file change.
export { startFakeBtcpay, type FakeBtcpay } from '../../src/sim/btcpay/index.ts';
export { TestReceiver } from '../../src/sim/btcpay/recording-receiver.ts';
export { startDnsLab, freePort, type DnsLab } from '../../test/helpers/dns-lab.ts';
export { findBinary } from '../../test/helpers/daemons.ts';
export { startAgent, waitFor, type AgentProcess } from '../../test/helpers/agent-process.ts';
export { makeTestContext } from '../../test/helpers/context.ts';
export { amAlerts, RULES_FILE, rulesWithScaledFor, startAlertmanager, startPrometheus, startSink, testAlertmanagerConfig } from '../../test/alerts-stack.ts';
export { incidentConfig } from '../../test/helpers/incident.ts';
