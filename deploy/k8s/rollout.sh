#!/usr/bin/env bash
# Rolls an overlay out with one image and rolls every workload back when
# any of them fails to become ready or the public health check fails.
#
#     deploy/k8s/rollout.sh OVERLAY NAMESPACE IMAGE PUBLIC_URL
#
# Needs kubectl with access to the cluster and curl. Used by
# .github/workflows/deploy.yml; runnable by hand (docs/OPERATIONS.md).
set -euo pipefail

overlay=${1:?overlay directory} namespace=${2:?namespace} image=${3:?image} url=${4:?public URL}
workloads=(deployment/gateway deployment/auth deployment/market-data deployment/wallet statefulset/trading)
timeout=${ROLLOUT_TIMEOUT:-600s}

rollback() {
    echo "rollout failed: rolling back" >&2
    for w in "${workloads[@]}"; do
        kubectl -n "$namespace" rollout undo "$w" || echo "could not undo $w" >&2
    done
    for w in "${workloads[@]}"; do
        kubectl -n "$namespace" rollout status "$w" --timeout="$timeout" || true
    done
    exit 1
}

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
# The overlay's FlowEx image, whatever its tag, becomes the one CI built.
kubectl kustomize "$overlay" |
    sed "s#image: ghcr.io/flowex/flowex:[A-Za-z0-9._-]*#image: $image#" >"$rendered"
grep -q "image: $image" "$rendered" || { echo "no FlowEx image in $overlay" >&2; exit 1; }
kubectl apply --server-side --field-manager=flowex-deploy -f "$rendered" || rollback
for w in "${workloads[@]}"; do
    kubectl -n "$namespace" rollout status "$w" --timeout="$timeout" || rollback
done
for _ in $(seq 1 30); do
    if curl -fsS --max-time 5 "$url/api/v3/ping" >/dev/null; then
        echo "rolled out $image to $namespace"
        exit 0
    fi
    sleep 5
done
echo "$url/api/v3/ping does not answer" >&2
rollback
