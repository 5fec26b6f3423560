#!/usr/bin/env bash
# Before `serverless deploy`: can this account take the stage's reserved concurrency?
# Lambda keeps 10 of an account's concurrency unreserved; new accounts get a quota of 10, so
# any reservation fails there with a CloudFormation error deep in the deploy.
#   STAGE=dev REGION=eu-west-1 scripts/preflight.sh [SERVERLESS ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a aws <<< "${AWS:-aws}"
stage=${STAGE:?STAGE} region=${REGION:?REGION}
function=lambdagram-$stage-webhook

command -v "${aws[0]}" >/dev/null || {
  echo "error: the AWS CLI (${aws[0]}) is not installed: install it (apt-get install awscli, or" >&2
  echo "       pip install awscli), then run aws configure" >&2; exit 1; }
wanted=$(node_modules/.bin/serverless print "$@" --format text \
  --path 'resources.extensions.WebhookLambdaFunction.Properties.ReservedConcurrentExecutions' \
  2>/dev/null || echo off)
case "$wanted" in ''|*[!0-9]*) echo "preflight: no reserved concurrency asked for"; exit 0 ;; esac

if ! unreserved=$("${aws[@]}" --region "$region" lambda get-account-settings \
    --query AccountLimit.UnreservedConcurrentExecutions --output text 2>&1); then
  echo "error: cannot read the account's Lambda settings in $region: $unreserved" >&2
  echo "       (aws configure, or AWS_PROFILE=...; REGION=... picks the region)" >&2
  exit 1
fi
held=$("${aws[@]}" --region "$region" lambda get-function-concurrency --function-name "$function" \
  --query ReservedConcurrentExecutions --output text 2>/dev/null || true)
case "$held" in ''|*[!0-9]*) held=0 ;; esac
left=$((unreserved + held - wanted))
if [ "$left" -lt 10 ]; then
  cat >&2 <<MSG
error: reservedConcurrency=$wanted does not fit this account in $region: $((unreserved + held)) of
       its concurrency is free to reserve and Lambda keeps 10 unreserved (new accounts have 10 in
       all). Either deploy without a reservation: PARAMS="reservedConcurrency=off" (Telegram's
       max_connections still bounds parallel deliveries), or a smaller one, or ask for more:
       Service Quotas > AWS Lambda > Concurrent executions.
MSG
  exit 1
fi
echo "preflight: reservedConcurrency=$wanted fits ($left stays unreserved in $region)"
