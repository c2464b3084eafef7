#!/bin/sh
# Writes Alertmanager's configuration from the HOOKWATCH_ALERT_* variables of /etc/hookwatch/alerting.env,
# then runs Alertmanager with it. POSIX sh (busybox in the official image). Each channel is on when its
# variables are set; with none, alerts still show in Alertmanager's UI (127.0.0.1:9093 on the host).
# Routing and inhibition follow alerts/alertmanager.example.yml: a DNS drift silences the alerts it causes.
set -eu
out=${HOOKWATCH_ALERTMANAGER_CONFIG:-/tmp/alertmanager.yml}

# A YAML double-quoted scalar.
q() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
set_() { [ -n "$(eval "printf '%s' \"\${$1:-}\"")" ]; }

line() { printf '%s\n' "$1"; }
need() { set_ "$1" || { echo "render.sh: $1 is required for $2 (see /etc/hookwatch/alerting.env)" >&2; exit 1; }; }
if set_ HOOKWATCH_ALERT_EMAIL_TO; then need HOOKWATCH_ALERT_SMTP_SMARTHOST e-mail; need HOOKWATCH_ALERT_SMTP_FROM e-mail; fi
if set_ HOOKWATCH_ALERT_TELEGRAM_BOT_TOKEN; then need HOOKWATCH_ALERT_TELEGRAM_CHAT_ID Telegram; fi

umask 077
{
  line "global:"
  line "  resolve_timeout: 5m"
  if set_ HOOKWATCH_ALERT_EMAIL_TO; then
    line "  smtp_smarthost: $(q "$HOOKWATCH_ALERT_SMTP_SMARTHOST")"
    line "  smtp_from: $(q "$HOOKWATCH_ALERT_SMTP_FROM")"
    if set_ HOOKWATCH_ALERT_SMTP_USERNAME; then
      line "  smtp_auth_username: $(q "$HOOKWATCH_ALERT_SMTP_USERNAME")"
      line "  smtp_auth_password: $(q "${HOOKWATCH_ALERT_SMTP_PASSWORD:-}")"
    fi
    line "  smtp_require_tls: ${HOOKWATCH_ALERT_SMTP_REQUIRE_TLS:-true}"
  fi
  cat <<'YAML'
route:
  receiver: merchant
  group_by: [probe, alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    # Dead man's switch: HookwatchWatchdog always fires; it goes to the heartbeat service only (none: dropped).
    - matchers: ['alertname="HookwatchWatchdog"']
      receiver: heartbeat
      group_by: [alertname]
      group_wait: 0s
      group_interval: 1m
      repeat_interval: 1m
    - matchers: ['severity="page"']
      receiver: merchant
      group_wait: 10s
      repeat_interval: 1h
receivers:
  - name: merchant
YAML
  if set_ HOOKWATCH_ALERT_EMAIL_TO; then
    line "    email_configs:"
    line "      - to: $(q "$HOOKWATCH_ALERT_EMAIL_TO")"
    line "        send_resolved: true"
  fi
  if set_ HOOKWATCH_ALERT_TELEGRAM_BOT_TOKEN; then
    line "    telegram_configs:"
    line "      - bot_token: $(q "$HOOKWATCH_ALERT_TELEGRAM_BOT_TOKEN")"
    line "        chat_id: $HOOKWATCH_ALERT_TELEGRAM_CHAT_ID"
    line "        send_resolved: true"
  fi
  if set_ HOOKWATCH_ALERT_WEBHOOK_URL; then
    line "    webhook_configs:"
    line "      - url: $(q "$HOOKWATCH_ALERT_WEBHOOK_URL")"
    line "        send_resolved: true"
  fi
  line "  - name: heartbeat"
  if set_ HOOKWATCH_ALERT_HEARTBEAT_URL; then
    line "    webhook_configs:"
    line "      - url: $(q "$HOOKWATCH_ALERT_HEARTBEAT_URL")"
    line "        send_resolved: false"
  fi
  cat <<'YAML'
inhibit_rules:
  - source_matchers: ['alertname="HookwatchDNSDrift"']
    target_matchers:
      - alertname=~"HookwatchWebhookDeliverySuccessLow|HookwatchPaidToDeliveredSlow|HookwatchPaidEventUndelivered|HookwatchSyntheticWebhookFailing|HookwatchSyntheticWebhookStale"
      - destination=~".+"
    equal: [destination]
  - source_matchers: ['alertname="HookwatchDNSDrift"']
    target_matchers:
      - alertname=~"HookwatchWebhookDeliverySuccessLow|HookwatchPaidToDeliveredSlow|HookwatchPaidEventUndelivered|HookwatchReconciliationMismatch"
      - destination=""
    equal: [job, instance]
  - source_matchers: ['severity="page"']
    target_matchers: ['alertname="HookwatchProbeFailing"']
    equal: [job, instance, probe]
  - source_matchers: ['alertname="HookwatchDNSDrift"']
    target_matchers: ['alertname="HookwatchProbeFailing"']
    equal: [job, instance]
  - source_matchers: ['alertname="HookwatchWebhookDeliverySuccessLow"', 'severity="page"']
    target_matchers: ['alertname="HookwatchWebhookDeliverySuccessLow"', 'severity="ticket"']
    equal: [job, instance, probe, store]
  - source_matchers: ['alertname="HookwatchAgentDown"']
    target_matchers: ['alertname=~"Hookwatch.+"', 'alertname!="HookwatchAgentDown"', 'alertname!="HookwatchWatchdog"']
    equal: [job, instance]
YAML
} > "$out"

[ "${HOOKWATCH_ALERTMANAGER_RENDER_ONLY:-}" = 1 ] && exit 0
exec /bin/alertmanager --config.file="$out" --storage.path=/alertmanager "$@"
