#!/usr/bin/env bash
# The stage's three SecureString parameters in SSM, in one region (the function reads them at
# cold start; `make params` and `make local-params` call this).
#   STAGE=prod REGION=eu-central-1 BOT_TOKEN=... REDIS_URL=rediss://... scripts/params.sh
# WEBHOOK_SECRET is generated unless given, and kept if the parameter already exists. Values
# go to the AWS CLI on stdin, never on a command line (where `ps` would show them).
set -euo pipefail
stage=${STAGE:?STAGE} region=${REGION:?REGION}
read -r -a aws <<< "${AWS:-aws}"  # "aws --endpoint-url=http://localhost:4566" for LocalStack
path=/lambdagram/$stage

command -v "${aws[0]}" >/dev/null || {
  echo "error: the AWS CLI (${aws[0]}) is not installed: install it (apt-get install awscli, or" >&2
  echo "       pip install awscli), then run aws configure" >&2; exit 1; }

[ -n "${BOT_TOKEN:-}" ] || { echo "error: set BOT_TOKEN (the token @BotFather gave the bot)" >&2; exit 1; }
[ -n "${REDIS_URL:-}" ] || { echo "error: set REDIS_URL (redis:// or rediss:// of your Redis)" >&2; exit 1; }
if ! who=$("${aws[@]}" --region "$region" sts get-caller-identity --output text 2>&1); then
  echo "error: the AWS CLI cannot reach AWS in $region: ${who##*$'\n'}" >&2
  echo "       (aws configure, or AWS_PROFILE=...; REGION=... picks the region)" >&2
  exit 1
fi
secret=${WEBHOOK_SECRET:-$("${aws[@]}" --region "$region" ssm get-parameter --with-decryption \
  --name "$path/webhook-secret" --query Parameter.Value --output text 2>/dev/null || true)}
if [ -z "$secret" ] || [ "$secret" = None ]; then
  secret=$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-40)
fi

put() {  # name value
  printf '%s' "$2" | "${aws[@]}" --region "$region" ssm put-parameter --overwrite \
    --type SecureString --name "$path/$1" --value file:///dev/stdin >/dev/null
  echo "$path/$1 is set in $region"
}
put bot-token "$BOT_TOKEN"
put webhook-secret "$secret"
put redis-url "$REDIS_URL"
