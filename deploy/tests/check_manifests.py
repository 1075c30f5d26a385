#!/usr/bin/env python3
"""Checks the deployment files against what the flowex binary really reads
and serves.

    check_manifests.py FLOWEX_BIN RENDERED.yaml... --compose FILE

Each RENDERED.yaml is the output of `kubectl kustomize` of one overlay.
For every FlowEx container it builds the process's real configuration
(the ConfigMap's flowex.toml, the container's FLOWEX_* variables, secret
values of the right shape in place of the Secret template's placeholders)
and runs `flowex --config FILE config`: the binary refuses unknown FLOWEX_*
names and invalid settings, and prints the effective configuration, whose
ports, addresses and data directory are then compared with the manifests
(container ports, Services, probes, volumes, network policies). Probe and
scrape paths must be routes of the binary's own OpenAPI document.
Secret files must pass FlowEx's mode check (no group or other bits), which
Kubernetes breaks when a pod sets fsGroup, so secrets travel as variables.
"""

import json
import os
import subprocess
import sys
import tempfile
import tomllib

import yaml

SERVICES = ["gateway", "auth", "trading", "market-data", "wallet"]
# Which service calls which (services.<name>.url in the code): the network
# policies must allow exactly these paths, and the database and Redis.
CALLS = {
    "gateway": ["auth", "trading", "market-data", "wallet", "redis"],
    "auth": ["postgres", "redis"],
    # auth: the WebSocket API checks sessions and API keys at logon;
    # market-data: it answers the WebSocket API's depth, klines, tickers.
    "trading": ["auth", "market-data", "postgres", "redis"],
    "market-data": ["trading", "postgres", "redis"],
    "wallet": ["trading", "postgres", "redis"],
}
# The secrets each service needs, and no more (least privilege).
SECRETS = {
    "gateway": {"internal-token", "redis-url", "jwt-public-key"},
    "auth": {"internal-token", "database-url", "redis-url", "jwt-private-key", "secret-box-key"},
    "trading": {"internal-token", "database-url", "redis-url", "jwt-public-key"},
    "market-data": {"internal-token", "database-url", "redis-url"},
    "wallet": {"internal-token", "database-url", "redis-url", "secret-box-key"},
}
PROBES = {"startupProbe": "/health/live", "livenessProbe": "/health/live",
          "readinessProbe": "/health/ready"}
# Values of the right shape for the Secret template's placeholders.
FAKE_SECRETS = {
    "internal-token": "k8s-check-internal-token-0123456789abcdef",
    "secret-box-key": "ab" * 32,
    "jwt-private-key": "-----BEGIN PRIVATE KEY-----\nnot-read-by-flowex-config\n-----END PRIVATE KEY-----\n",
    "jwt-public-key": "-----BEGIN PUBLIC KEY-----\nnot-read-by-flowex-config\n-----END PUBLIC KEY-----\n",
    "postgres-password": "pw",
    "database-url": "postgres://flowex:pw@postgres:5432/flowex",
    "redis-password": "pw",
    "redis-url": "redis+sentinel://:pw@redis-sentinel:26379/flowex/0",
}
SENTINEL_PORT = 26379

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def by_kind(docs, kind):
    return [d for d in docs if d and d.get("kind") == kind]


def component(obj):
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def flowex_config(flowex, toml_text, env):
    """The effective configuration `flowex config` prints, or an error."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(toml_text)
        path = f.name
    try:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWEX_")}
        clean.update(env)
        out = subprocess.run([flowex, "--config", path, "config"], env=clean,
                             capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[:8]
    return tomllib.loads(out.stdout), None


def openapi_paths(flowex):
    out = subprocess.run([flowex, "openapi"], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout)["paths"])


def template_keys(root):
    with open(os.path.join(root, "deploy/k8s/base/secrets.template.yaml")) as f:
        data = yaml.safe_load(f)["stringData"]
    # The template's redis-url has the shape the checks assume.
    shape = data.get("redis-url", "").replace("REPLACE-WITH-redis-password", "pw")
    if shape != FAKE_SECRETS["redis-url"]:
        fail("secrets.template.yaml", f"redis-url {shape} is not {FAKE_SECRETS['redis-url']}")
    return set(data)


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def check_security(where, pod):
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        fail(where, "pod must set runAsNonRoot: true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(where, "pod must use the RuntimeDefault seccomp profile")
    if pod.get("automountServiceAccountToken") is not False:
        fail(where, "no service account token: FlowEx never calls the Kubernetes API")
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(where, f"container {c['name']}: allowPrivilegeEscalation must be false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(where, f"container {c['name']}: must drop ALL capabilities")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(where, f"container {c['name']}: readOnlyRootFilesystem must be true")
        if "limits" not in c.get("resources", {}):
            fail(where, f"container {c['name']}: no resource limits")


def check_secret_files(where, pod, container, cfg):
    """Secret files must be files FlowEx accepts: mode without group/other
    bits; kubelet adds group read (0440) when the pod sets fsGroup."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    secret_mounts = {}
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"], {})
        if "secret" in v:
            secret_mounts[m["mountPath"]] = v["secret"]
    file_settings = [p for k, p in (cfg.get("secrets") or {}).items()
                     if k.endswith("_file")]
    for path in file_settings:
        mount = next((s for mp, s in secret_mounts.items() if path.startswith(mp + "/")), None)
        if mount is None:
            fail(where, f"secret file {path} is not on a mounted Secret volume")
            continue
        mode = mount.get("defaultMode", 0o644)
        if mode & 0o077:
            fail(where, f"secret file {path}: mode {mode:04o}; FlowEx refuses group/other bits")
        if "fsGroup" in pod.get("securityContext", {}):
            fail(where, f"secret file {path}: the pod sets fsGroup, so kubelet makes it 0440 and FlowEx refuses it")


def check_flowex_container(where, name, pod, c, docs, toml_text, paths, keys):
    args = c.get("args", [])
    if args[-2:] != ["serve", name] or args[:2] != ["--config", "/etc/flowex/flowex.toml"]:
        fail(where, f"args {args}: expected --config /etc/flowex/flowex.toml serve {name}")
    if not any(m["mountPath"] == "/etc/flowex" for m in c.get("volumeMounts", [])):
        fail(where, "the configuration is not mounted at /etc/flowex")
    env, used = {}, set()
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
            continue
        ref = e.get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("name") != "flowex-secrets" or ref.get("key") not in keys:
            fail(where, f"env {e['name']}: key {ref.get('key')!r} is not in the Secret template")
            continue
        used.add(ref["key"])
        env[e["name"]] = FAKE_SECRETS[ref["key"]]
    if used != SECRETS[name]:
        fail(where, f"gets secrets {sorted(used)}, needs exactly {sorted(SECRETS[name])}")
    cfg, err = flowex_config(c["_flowex"], toml_text, env)
    if err:
        fail(where, "flowex config refuses this container's configuration: " + " | ".join(err))
        return
    if cfg["mode"] != "distributed" or cfg["server"]["bind"] != "0.0.0.0":
        fail(where, "must run in distributed mode bound to 0.0.0.0")
    port = cfg["services"][name.replace("-", "_")]["port"]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http") != port:
        fail(where, f"containerPort http is {ports.get('http')}, the service listens on {port}")
    for probe, path in PROBES.items():
        got = c.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") not in ("http", port):
            fail(where, f"{probe} must be GET {path} on the http port, is {got}")
        if got.get("path") not in paths:
            fail(where, f"{probe} path {got.get('path')} is not a route of the binary")
    for svc, ep in cfg["services"].items():
        check_url(where, svc.replace("_", "-"), ep, docs)
    if name == "trading":
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        if mounts.get(cfg["data_dir"]) is None:
            fail(where, f"the journal directory {cfg['data_dir']} is not on a volume")
        else:
            claims = {t["metadata"]["name"] for t in pod.get("_claims", [])}
            if mounts[cfg["data_dir"]] not in claims:
                fail(where, f"{cfg['data_dir']} is not on the persistent volume claim")
    check_secret_files(where, pod, c, cfg)


def check_url(where, target, ep, docs):
    """services.<target>.url must name a Service that reaches that component
    on its port."""
    url = ep["url"]
    host_port = url.removeprefix("http://").rstrip("/")
    host, _, port = host_port.partition(":")
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    svc = services.get(host)
    if svc is None:
        fail(where, f"services.{target}.url {url}: no Service {host}")
        return
    if svc["spec"]["selector"].get("app.kubernetes.io/component") != target:
        fail(where, f"Service {host} does not select the {target} pods")
    if int(port or 80) not in [p["port"] for p in svc["spec"]["ports"]]:
        fail(where, f"services.{target}.url {url}: Service {host} has no port {port}")
    if ep["port"] != int(port or 80):
        fail(where, f"services.{target}: url port {port} but port {ep['port']}")


def allows(policies, direction, selected, peer, port):
    """Some policy selecting `selected` allows `peer` on `port`."""
    key = "ingress" if direction == "Ingress" else "egress"
    side = "from" if key == "ingress" else "to"
    for p in policies:
        sel = p["spec"]["podSelector"]
        labels = sel.get("matchLabels", {})
        exprs = sel.get("matchExpressions", [])
        match = labels.get("app.kubernetes.io/component") == selected or any(
            x["key"] == "app.kubernetes.io/component" and selected in x["values"] for x in exprs)
        if not match:
            continue
        for rule in p["spec"].get(key, []):
            peers = [x.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                     for x in rule.get(side, [])]
            if peer in peers and port in [x.get("port") for x in rule.get("ports", [])]:
                return True
    return False


def check_sentinel_group(where, redis, docs):
    """Redis runs as a Sentinel group, and the redis-url FlowEx is given
    names a Service of its sentinels (the scheme crates/redis reads)."""
    pod = pod_spec(redis)
    for c in pod["containers"]:
        if c.get("command") == ["sh", "-c"]:
            parsed = subprocess.run(["sh", "-n"], input=c["args"][0], text=True,
                                    capture_output=True)
            if parsed.returncode != 0:
                fail(where, f"redis {c['name']}: its start script does not parse: {parsed.stderr}")
    names = [c["name"] for c in pod["containers"]]
    if redis["spec"]["replicas"] < 3 or names != ["redis", "sentinel"]:
        fail(where, "redis must be a StatefulSet of 3+ pods, each a server and a sentinel")
    url = FAKE_SECRETS["redis-url"]
    host = url.split("@")[1].split("/")[0].split(",")[0]
    svc_name, port = host.split(":")
    services = {d["metadata"]["name"]: d for d in by_kind(docs, "Service")}
    svc = services.get(svc_name)
    if url.split("://")[0] != "redis+sentinel" or svc is None or \
            int(port) not in [p["port"] for p in svc["spec"]["ports"]]:
        fail(where, f"redis-url {url} does not name a Service of the sentinels")


def check_network(where, docs, ports):
    policies = by_kind(docs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        fail(where, "no default-deny NetworkPolicy")
    for caller, callees in CALLS.items():
        for callee in callees:
            # Redis is reached through its sentinels first.
            for port in [ports[callee]] + ([SENTINEL_PORT] if callee == "redis" else []):
                if not allows(policies, "Egress", caller, callee, port):
                    fail(where, f"no egress policy lets {caller} reach {callee}:{port}")
                if not allows(policies, "Ingress", callee, caller, port):
                    fail(where, f"no ingress policy lets {callee} accept {caller} on {port}")
    for port in [ports["redis"], SENTINEL_PORT]:
        if not (allows(policies, "Egress", "redis", "redis", port)
                and allows(policies, "Ingress", "redis", "redis", port)):
            fail(where, f"the Sentinel group's pods cannot reach each other on {port}")
    public = [p for p in policies for r in p["spec"].get("ingress", [])
              for f in r.get("from", []) if "namespaceSelector" in f
              and f["namespaceSelector"].get("matchLabels", {}).get("kubernetes.io/metadata.name") == "ingress-nginx"]
    if [component_of_selector(p) for p in public] != ["gateway"]:
        fail(where, "only the gateway may be reachable from the ingress controller")
    check_ingress(where, by_kind(docs, "Ingress"))


def check_ingress(where, ingresses):
    """Everything goes to the gateway, and its /metrics and /health/* are
    refused at the ingress (an Ingress of their own allowing no client)."""
    closed = set()
    for ing in ingresses:
        allow = ing["metadata"].get("annotations", {}).get(
            "nginx.ingress.kubernetes.io/whitelist-source-range")
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] != "gateway":
                    fail(where, f"Ingress routes {path['path']} past the gateway")
                if allow == "127.0.0.1/32":
                    closed.add((rule["host"], path["path"]))
    for ing in ingresses:
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                for internal in ["/metrics", "/health"]:
                    if internal.startswith(path["path"]) and (rule["host"], internal) not in closed:
                        fail(where, f"{rule['host']}{path['path']} exposes {internal} to the internet")


def component_of_selector(policy):
    return policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")


def check_overlay(flowex, rendered, paths, keys):
    where0 = os.path.basename(rendered)
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    cms = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("flowex-config")]
    if len(cms) != 1:
        fail(where0, "expected one flowex-config ConfigMap")
        return
    toml_text = cms[0]["data"]["flowex.toml"]
    workloads = {component(w): w for w in by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")}
    ports = {"postgres": 5432, "redis": 6379}
    for name in SERVICES:
        w = workloads.get(name)
        where = f"{where0} {name}"
        if w is None:
            fail(where, "no workload")
            continue
        pod = pod_spec(w)
        pod["_claims"] = w["spec"].get("volumeClaimTemplates", [])
        check_security(where, pod)
        if pod["volumes"][0]["configMap"]["name"] != cms[0]["metadata"]["name"]:
            fail(where, "does not mount the flowex-config ConfigMap")
        c = pod["containers"][0]
        c["_flowex"] = flowex
        check_flowex_container(where, name, pod, c, docs, toml_text, paths, keys)
        ports[name] = next(p["containerPort"] for p in c["ports"] if p["name"] == "http")
    trading = workloads.get("trading")
    if trading and (trading["kind"] != "StatefulSet" or trading["spec"]["replicas"] != 1):
        fail(where0, "trading must be a StatefulSet of exactly one replica (one journal writer)")
    for name in ["postgres", "redis"]:
        if name in workloads:
            check_security(f"{where0} {name}", pod_spec(workloads[name]))
        else:
            fail(where0, f"no {name} workload")
    if "redis" in workloads:
        check_sentinel_group(where0, workloads["redis"], docs)
    check_network(where0, docs, ports)
    for kind in ["HorizontalPodAutoscaler", "PodDisruptionBudget"]:
        got = {d["metadata"]["name"] for d in by_kind(docs, kind)}
        want = {"gateway", "auth", "market-data", "wallet"}
        if not want <= got:
            fail(where0, f"{kind} missing for {sorted(want - got)}")
    for sm in by_kind(docs, "ServiceMonitor"):
        for ep in sm["spec"]["endpoints"]:
            if ep["path"] not in paths:
                fail(where0, f"ServiceMonitor scrapes {ep['path']}, not a route of the binary")
            if ep["port"] != "http":
                fail(where0, "ServiceMonitor must scrape the services' http port")
    for pc in by_kind(docs, "PriorityClass"):
        if "namespace" in pc["metadata"]:
            fail(where0, "PriorityClass is cluster-scoped")
    namespaces = by_kind(docs, "Namespace")
    if not namespaces or namespaces[0]["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") != "restricted":
        fail(where0, "the namespace must enforce the restricted Pod Security Standard")


def check_compose(flowex, path):
    with open(path) as f:
        compose = yaml.safe_load(f)
    root = os.path.dirname(path)
    with open(os.path.join(root, "flowex.toml")) as f:
        toml_text = f.read()
    env = {"FLOWEX_INTERNAL_TOKEN": FAKE_SECRETS["internal-token"],
           "FLOWEX_SECRET_BOX_KEY": FAKE_SECRETS["secret-box-key"],
           "FLOWEX_DATABASE_URL": FAKE_SECRETS["database-url"],
           "FLOWEX_REDIS_URL": "redis://redis:6379/0"}
    with open(os.path.join(root, "flowex.env.example")) as f:
        names = {line.split("=", 1)[0] for line in f if "=" in line and not line.startswith("#")}
    for name in names:
        if name.startswith("FLOWEX_") and name not in env:
            env[name] = FAKE_SECRETS["jwt-public-key"]
    cfg, err = flowex_config(flowex, toml_text, env)
    if err:
        fail("docker-compose", "flowex config refuses flowex.toml + flowex.env.example: " + " | ".join(err))
        return
    for name in SERVICES:
        svc = compose["services"].get(name)
        if svc is None:
            fail("docker-compose", f"no service {name}")
            continue
        cmd = svc.get("command", [])
        if cmd != ["--config", "/etc/flowex/flowex.toml", "serve", name]:
            fail("docker-compose", f"{name}: command {cmd}")
        ep = cfg["services"][name.replace("-", "_")]
        if ep["url"] != f"http://{name}:{ep['port']}":
            fail("docker-compose", f"services.{name}.url {ep['url']} is not the compose host {name}:{ep['port']}")
    if compose["services"]["trading"]["volumes"][-1].split(":")[1] != cfg["data_dir"]:
        fail("docker-compose", "trading's journal volume is not at data_dir")
    published = [n for n, s in compose["services"].items() if s.get("ports")]
    if not set(published) <= {"gateway", "prometheus", "grafana"}:
        fail("docker-compose", f"only the gateway and the dashboards are published, not {published}")


def main(argv):
    flowex = argv[1]
    rest = argv[2:]
    compose = None
    if "--compose" in rest:
        i = rest.index("--compose")
        compose = rest[i + 1]
        rest = rest[:i] + rest[i + 2:]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = openapi_paths(flowex)
    keys = template_keys(root)
    for rendered in rest:
        check_overlay(flowex, rendered, paths, keys)
    if compose:
        check_compose(flowex, compose)
    for f in failures:
        print("FAIL", f)
    checked = len(rest) + (1 if compose else 0)
    print(f"manifests: {checked} checked, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
