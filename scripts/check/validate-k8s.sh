#!/usr/bin/env bash
# Lints and validates the Kubernetes packaging, offline:
#   * the Helm chart: `helm lint --strict` and `helm template` with the default values and with
#     every charts/gcp-token-agent/ci/*-values.yaml; the values schema must refuse bad values;
#     the kubeVersion floor must hold;
#   * every rendered document and every manifest in deploy/: `kubernetes-validate --strict`
#     against the oldest Kubernetes the chart claims (its kubeVersion) and the newest schema
#     kubernetes-validate ships;
#   * what schemas cannot see: each TLS mode wires the webhook to the Secret, caBundle, Service
#     and RBAC it needs (and tls.mode=auto renders no key material, so two renders are
#     byte-identical), the webhook configuration keeps its safety settings and listens dual
#     stack, agent.* values reach the webhook's flags, each webhook.optIn style renders its
#     selector or flag (and podAnnotation with Fail is refused unless namespaces are narrowed),
#     the helm test Pod probes the Service with the published CA (and the NetworkPolicy admits it),
#     deploy/webhook does not drift from the chart, kubectl loads
#     deploy/kubeconfig-exec-credential.yaml and runs the plugin it names;
#   * the Dockerfile: hadolint, digest-pinned base images, and the runtime layout of
#     scripts/release/build-image.sh (scratch on amd64, scripts/release/image-rootfs.sh's files, user 65532).
# Every check runs even after a failure; the last line counts them, and the exit status is
# non-zero if any failed. Tools: scripts/setup/install-test-deps.sh. VERBOSE=1 lists passing checks.
set -uo pipefail
cd "$(dirname "$0")/../.."

CHART=charts/gcp-token-agent
# The chart's documented install: `helm install gcp-token-agent ... -n gcp-token-agent`.
# deploy/webhook/ is the same thing without Helm, so it is compared with this rendering.
RELEASE=gcp-token-agent
NAMESPACE=gcp-token-agent

# Kinds whose schemas kubernetes-validate does not ship (CRDs and client-side files). They are
# skipped on purpose, and counted as skipped, never silently passed:
#   cert-manager.io Certificate/Issuer/ClusterIssuer  (cert-manager CRDs: tls.mode=cert-manager)
#   monitoring.coreos.com ServiceMonitor              (Prometheus Operator CRD: serviceMonitor.enabled)
#   monitoring.coreos.com PodMonitor                  (Prometheus Operator CRD: podMonitor.enabled;
#                                                      checked structurally by pod-monitor below)
#   monitoring.coreos.com PrometheusRule              (Prometheus Operator CRD: prometheusRule.enabled;
#                                                      checked by observability below and promtool)
#   kustomize.config.k8s.io Kustomization             (read by kubectl -k; built below instead)
#   Config (v1)                                       (a kubeconfig; loaded by kubectl below instead)
SKIP_KINDS="cert-manager.io/Certificate cert-manager.io/Issuer cert-manager.io/ClusterIssuer
monitoring.coreos.com/ServiceMonitor monitoring.coreos.com/PodMonitor monitoring.coreos.com/PrometheusRule kustomize.config.k8s.io/Kustomization v1/Config"

passed=0 failed=0 skipped=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass() {
  passed=$((passed + 1))
  if [ -n "${VERBOSE:-}" ]; then printf 'ok   %s\n' "$1"; fi
}
fail() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/     /'; fi
}
skip() {
  skipped=$((skipped + 1))
  if [ -n "${VERBOSE:-}" ]; then printf 'skip %s\n' "$1"; fi
}
# check NAME CMD...: one counted check; the command's output is shown only if it fails.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
# refuse NAME PATTERN CMD...: the command must fail, saying PATTERN (the reason we expect).
refuse() {
  local name=$1 pattern=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    fail "$name" "accepted, but should have been refused"
  elif ! grep -qiE -- "$pattern" <<<"$out"; then
    fail "$name" "refused, but not for the expected reason /$pattern/:
$out"
  else
    pass "$name"
  fi
}

# --- tools -------------------------------------------------------------------------------
missing=""
for tool in helm kubernetes-validate hadolint kubectl python3 promtool; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "validate-k8s: missing:$missing (run scripts/setup/install-test-deps.sh)"
  echo "validate-k8s: 0 passed, 1 failed"
  exit 1
fi

# Oldest: the chart's kubeVersion floor. Newest: the default (= newest) schema version that
# kubernetes-validate's --help announces.
OLDEST=$(sed -n 's/^kubeVersion: *"*>= *\([0-9][0-9.]*[0-9]\).*/\1/p' "$CHART/Chart.yaml")
NEWEST=$(kubernetes-validate --help | tr -s ' \n' ' ' | sed -n 's/.*Defaults to \([0-9][0-9.]*[0-9]\).*/\1/p')
if [ -z "$OLDEST" ] || [ -z "$NEWEST" ]; then
  echo "validate-k8s: cannot tell the Kubernetes versions (oldest='$OLDEST' newest='$NEWEST')"
  echo "validate-k8s: 0 passed, 1 failed"
  exit 1
fi
echo "validate-k8s: Kubernetes $OLDEST (chart kubeVersion) and $NEWEST (newest schema), helm $(helm version --short)"

# --- the helper for what a shell does badly: split YAML streams, compare objects ----------
py=$work/helper.py
cat >"$py" <<'PY'
import json, os, sys
import yaml

def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]

def split(outdir, *paths):
    """One file per document, so each is validated and reported on its own."""
    n = 0
    for path in paths:
        for doc in docs(path):
            n += 1
            out = os.path.join(outdir, "%04d.yaml" % n)
            with open(out, "w") as f:
                yaml.safe_dump(doc, f)
            api = doc.get("apiVersion", "?")
            group = api.rsplit("/", 1)[0] if "/" in api else api  # "apps/v1" -> apps, "v1" -> v1
            name = (doc.get("metadata") or {}).get("name", "-")
            print("\t".join([out, path, "%s/%s" % (group, doc.get("kind", "?")), name]))

def by_kind(rendered):
    out = {}
    for d in docs(rendered):
        out.setdefault(d["kind"], []).append(d)
    return out

def one(objs, kind):
    items = objs.get(kind, [])
    if len(items) != 1:
        raise SystemExit("expected exactly one %s, found %d" % (kind, len(items)))
    return items[0]

def webhook_checks(rendered, namespace):
    """What the MutatingWebhookConfiguration must keep, whatever the values."""
    objs = by_kind(rendered)
    wh = one(objs, "MutatingWebhookConfiguration")["webhooks"]
    problems = []
    if len(wh) != 1:
        problems.append("expected one webhook, found %d" % len(wh))
    w = wh[0]
    want = {
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "reinvocationPolicy": "IfNeeded",
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"], "scope": "Namespaced"}],
    }
    for key, value in want.items():
        if w.get(key) != value:
            problems.append("%s is %r, want %r" % (key, w.get(key), value))
    svc = w["clientConfig"]["service"]
    if svc.get("path") != "/mutate" or svc.get("namespace") != namespace:
        problems.append("clientConfig.service is %r" % svc)
    excluded = [e for e in w["namespaceSelector"]["matchExpressions"]
                if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn"]
    if not excluded or not {namespace, "kube-system"} <= set(excluded[0]["values"]):
        problems.append("namespaceSelector does not exclude %s and kube-system" % namespace)
    service = one(objs, "Service")
    if svc["name"] != service["metadata"]["name"] or svc["port"] not in [p["port"] for p in service["spec"]["ports"]]:
        problems.append("clientConfig.service %r does not match the Service" % svc)
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    if c["args"][0] != "webhook" or not any(a.startswith("--agent-image=") for a in c["args"]):
        problems.append("webhook container args are %r" % c["args"])
    # Dual stack: [::] on the container's ports; the webhook falls back to 0.0.0.0 itself.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for flag, port in (("--listen", "https"), ("--admin-listen", "admin")):
        want_arg = "%s=[::]:%s" % (flag, ports.get(port))
        if [a for a in c["args"] if a.startswith(flag + "=")] != [want_arg]:
            problems.append("webhook args lack %s (once): %r" % (want_arg, c["args"]))
    sc = c.get("securityContext", {})
    if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities", {}).get("drop") == ["ALL"]):
        problems.append("webhook container securityContext is not hardened: %r" % sc)
    if problems:
        raise SystemExit("\n".join(problems))

def opt_in(rendered, chart, values_file):
    """webhook.optIn reaches the one place each style lives: the objectSelector (podLabel), the
    namespaceSelector (namespaceLabel) or the webhook's flags (podAnnotation, where Fail needs
    the namespaces narrowed); the webhook and the helm test probe know key and value."""
    values = merged_values(chart, values_file)
    opt, wh = values["webhook"]["optIn"], values["webhook"]
    objs = by_kind(rendered)
    w = one(objs, "MutatingWebhookConfiguration")["webhooks"][0]
    args = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    pair = {opt["key"]: opt["value"]}
    problems = []
    want_object = {"matchLabels": pair} if opt["style"] == "podLabel" else None
    if w.get("objectSelector") != want_object:
        problems.append("objectSelector is %r, want %r" % (w.get("objectSelector"), want_object))
    want_ns = pair if opt["style"] == "namespaceLabel" else None
    if w["namespaceSelector"].get("matchLabels") != want_ns:
        problems.append("namespaceSelector.matchLabels is %r, want %r" % (w["namespaceSelector"].get("matchLabels"), want_ns))
    user = wh.get("namespaceSelectorExpressions") or []
    if any(e not in w["namespaceSelector"]["matchExpressions"] for e in user):
        problems.append("namespaceSelectorExpressions are not all in the namespaceSelector")
    style_flag = {"podLabel": [], "namespaceLabel": ["namespace-label"], "podAnnotation": ["pod-annotation"]}
    default_key, default_value = "gcp-token-agent.io/inject", "true"
    want = {"--opt-in": style_flag[opt["style"]],
            "--opt-in-key": [opt["key"]] if opt["key"] != default_key else [],
            "--opt-in-value": [opt["value"]] if opt["value"] != default_value else []}
    problems += ["webhook %s is %r, want %r" % (n, flag(args, n), v) for n, v in want.items() if flag(args, n) != v]
    if opt["style"] == "podAnnotation" and w["failurePolicy"] == "Fail" and \
            not any(e["operator"] in ("In", "Exists") for e in user):
        problems.append("podAnnotation with failurePolicy Fail renders, but no In/Exists term narrows the namespaces")
    probe = [p for p in objs.get("Pod", []) if (p["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    if probe:
        pargs = probe[0]["spec"]["containers"][0]["args"]
        for name in ("--opt-in-key", "--opt-in-value"):
            if flag(pargs, name) != want[name]:
                problems.append("helm test probe %s is %r, want %r" % (name, flag(pargs, name), want[name]))
    if problems:
        raise SystemExit("\n".join(problems))

def test_hook(rendered, chart, values_file, namespace):
    """`helm test` runs one Pod: our binary's webhook-probe against the Service's name, trusting
    the CA the API server is given (the TLS Secret's ca.crt, or tls.secret.caBundle), with
    none of the webhook's selector labels (the Service must not route reviews to it)."""
    import base64
    values = merged_values(chart, values_file)
    objs = by_kind(rendered)
    hooks = [o for kind in objs for o in objs[kind]
             if (o["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    pods = [o for o in hooks if o["kind"] == "Pod"]
    if len(pods) != 1:
        raise SystemExit("want one helm test Pod, found %d" % len(pods))
    pod, problems = pods[0], []
    spec = pod["spec"]
    c = spec["containers"][0]
    svc = one(objs, "Service")
    service = one(objs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]
    url = "https://%s.%s.svc:%s/mutate" % (service["name"], namespace, service["port"])
    if c["args"][0] != "webhook-probe" or flag(c["args"], "--url") != [url]:
        problems.append("probe args %r do not call %s" % (c["args"], url))
    if c["image"] != one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]:
        problems.append("the probe does not run the webhook's image")
    selector = svc["spec"]["selector"]
    if all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items()):
        problems.append("the test Pod matches the Service's selector %r" % selector)
    if spec.get("restartPolicy") != "Never" or spec.get("automountServiceAccountToken") is not False:
        problems.append("the test Pod must not restart and needs no API token")
    ca_file = (flag(c["args"], "--ca-file") or [""])[0]
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    name = next((n for n, path in mounts.items() if ca_file == path.rstrip("/") + "/ca.crt"), None)
    volume = volumes.get(name) or {}
    mode = values["tls"]["mode"]
    if mode == "secret":
        cms = {o["metadata"]["name"]: o for o in hooks if o["kind"] == "ConfigMap"}
        cm = cms.get((volume.get("configMap") or {}).get("name"))
        if cm is None or cm["data"].get("ca.crt") != base64.b64decode(values["tls"]["secret"]["caBundle"]).decode():
            problems.append("the probe's CA is not tls.secret.caBundle: %r" % volume)
    else:
        secret = volume.get("secret") or {}
        tls_secret = "%s-tls" % service["name"]
        if secret.get("secretName") != tls_secret or secret.get("items") != [{"key": "ca.crt", "path": "ca.crt"}]:
            problems.append("the probe's CA is not ca.crt (alone) of %s: %r" % (tls_secret, volume))
    # With the NetworkPolicy on, the test pod must be admitted to the HTTPS port by a peer of its
    # own namespace (a podSelector alone) that its labels match: else `helm test` always fails.
    for policy in objs.get("NetworkPolicy", []):
        https = values["containerPorts"]["https"]
        def admits(rule):
            on_https = any(p.get("port") == https for p in rule.get("ports") or [])
            return on_https and any(
                set(peer) == {"podSelector"} and not peer["podSelector"].get("matchExpressions")
                and all(pod["metadata"]["labels"].get(k) == v
                        for k, v in (peer["podSelector"].get("matchLabels") or {}).items())
                and peer["podSelector"].get("matchLabels")
                for peer in rule.get("from") or [])
        if not any(admits(r) for r in policy["spec"].get("ingress") or []):
            problems.append("NetworkPolicy %s does not admit the test pod to port %s"
                            % (policy["metadata"]["name"], https))
    if problems:
        raise SystemExit("\n".join(problems))

def flag(args, name):
    """The values of --name=VALUE in args, in order."""
    return [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]

def tls_checks(rendered, namespace, mode):
    """The CA the API server trusts must be the one that signed what the pods serve, and the
    webhook may touch only its own TLS objects."""
    objs = by_kind(rendered)
    w = one(objs, "MutatingWebhookConfiguration")
    client = w["webhooks"][0]["clientConfig"]
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    args = c["args"]
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    svc = "%s.%s.svc" % (client["service"]["name"], namespace)
    cluster_role = one(objs, "ClusterRole")
    mwc_rules = [r for r in cluster_role["rules"] if "admissionregistration.k8s.io" in r["apiGroups"]]
    problems = []
    if mode == "auto":
        # No Secret is rendered: the RBAC below must name the one --tls-secret gives.
        secret_name = (flag(args, "--tls-secret") or [None])[0]
        want = {"--webhook-configuration": [w["metadata"]["name"]],
                "--service-name": [client["service"]["name"]]}
        for name, value in want.items():
            if flag(args, name) != value:
                problems.append("%s is %r, want %r" % (name, flag(args, name), value))
        if len(flag(args, "--tls-secret")) != 1 or not secret_name:
            problems.append("args need exactly one non-empty --tls-secret: %r" % args)
        if len(flag(args, "--cluster-domain")) != 1 or len(flag(args, "--tls-validity")) != 1:
            problems.append("args lack --cluster-domain or --tls-validity: %r" % args)
        if flag(args, "--tls-cert") or flag(args, "--tls-key") or "tls" in volumes:
            problems.append("auto mode reads its Secret through the API, yet certificate files are mounted")
        env = {e["name"]: e for e in c.get("env") or []}
        ns_env = env.get("GCP_TOKEN_AGENT_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {})
        if ns_env.get("fieldPath") != "metadata.namespace":
            problems.append("GCP_TOKEN_AGENT_NAMESPACE does not come from metadata.namespace")
        if objs.get("Secret") or objs.get("Certificate"):
            problems.append("auto mode renders no Secret or Certificate (it would change on every render)")
        if "caBundle" in client:
            problems.append("caBundle is rendered, but the webhook owns it in auto mode")
        # RBAC: named get/update(/patch) on its Secret and Lease, bare create, its MWC only.
        role = one(objs, "Role")
        rules = {(r["apiGroups"][0], r["resources"][0], tuple(r.get("resourceNames") or ())): sorted(r["verbs"])
                 for r in role["rules"]}
        want_rules = {("", "secrets", (secret_name,)): ["get", "patch", "update"],
                      ("", "secrets", ()): ["create"],
                      ("coordination.k8s.io", "leases", (secret_name,)): ["get", "update"],
                      ("coordination.k8s.io", "leases", ()): ["create"]}
        if rules != want_rules or role["metadata"].get("namespace") != namespace:
            problems.append("Role rules are %r, want %r in %s" % (rules, want_rules, namespace))
        binding = one(objs, "RoleBinding")
        if binding["roleRef"]["name"] != role["metadata"]["name"] or \
                [s["name"] for s in binding["subjects"]] != [pod["serviceAccountName"]]:
            problems.append("RoleBinding does not give the Role to %s" % pod["serviceAccountName"])
        if [(r.get("resourceNames"), sorted(r["verbs"]), r["resources"]) for r in mwc_rules] != \
                [([w["metadata"]["name"]], ["get", "patch"], ["mutatingwebhookconfigurations"])]:
            problems.append("ClusterRole on webhook configurations is %r" % mwc_rules)
    else:
        if flag(args, "--tls-secret") or objs.get("Role") or mwc_rules:
            problems.append("tls.mode=%s needs no --tls-secret, Role or webhook-configuration rule" % mode)
        secret_name = (volumes.get("tls") or {}).get("secret", {}).get("secretName")
        if flag(args, "--tls-cert") != ["/etc/gcp-token-agent/tls/tls.crt"] or \
                flag(args, "--tls-key") != ["/etc/gcp-token-agent/tls/tls.key"] or secret_name is None:
            problems.append("the tls volume or --tls-cert/--tls-key are missing")
    if mode == "cert-manager":
        ann = (w["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from", "")
        certs = {c["metadata"]["name"]: c for c in objs.get("Certificate", [])}
        cert = certs.get(ann.split("/", 1)[-1])
        if not ann.startswith(namespace + "/") or cert is None:
            problems.append("inject-ca-from %r names no rendered Certificate" % ann)
        elif cert["spec"]["secretName"] != secret_name or svc not in cert["spec"]["dnsNames"]:
            problems.append("Certificate %r does not issue %s for %s" % (cert["metadata"]["name"], secret_name, svc))
        if "caBundle" in client:
            problems.append("caBundle is set, but cainjector owns it")
    if mode == "secret":
        if objs.get("Secret") or not client.get("caBundle"):
            problems.append("tls.mode=secret must use the user's Secret %s and caBundle" % secret_name)
    if problems:
        raise SystemExit("\n".join(problems))

def merged_values(chart, values_file):
    """values.yaml overlaid with a values file, as Helm does it (null deletes a key)."""
    def merge(base, over):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            elif isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = v
        return out
    values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
    if values_file != "default":
        values = merge(values, yaml.safe_load(open(values_file)) or {})
    return values

def tls_mode(chart, values_file):
    print(merged_values(chart, values_file)["tls"]["mode"])

def agent_args(rendered, chart, values_file):
    """Each agent.* value reaches its flag of `gcp-token-agent webhook`."""
    values = merged_values(chart, values_file)
    agent, cluster = values["agent"], values.get("cluster") or {}
    args = one(by_kind(rendered), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    res = agent.get("resources") or {}
    unset = lambda v: "" if v is None else str(v)
    want = {
        "--sidecar-mode": [agent["sidecarMode"]],
        "--workload-identity-provider": [agent["workloadIdentityProvider"]] if agent.get("workloadIdentityProvider") else [],
        "--project-id": [agent["projectId"]] if agent.get("projectId") else [],
        "--agent-port": [str(agent["ports"]["metadata"])],
        "--agent-admin-port": [str(agent["ports"]["admin"])],
        "--agent-cpu-request": [unset((res.get("requests") or {}).get("cpu"))],
        "--agent-memory-request": [unset((res.get("requests") or {}).get("memory"))],
        "--agent-cpu-limit": [unset((res.get("limits") or {}).get("cpu"))],
        "--agent-memory-limit": [unset((res.get("limits") or {}).get("memory"))],
        "--agent-run-as-user": [str(agent["runAsUser"]) if agent.get("runAsUser") is not None else "none"],
        "--agent-env": ["%s=%s" % (e["name"], e["value"]) for e in agent.get("extraEnv") or []],
        "--agent-log-level": [agent["logLevel"]] if agent.get("logLevel") else [],
        "--agent-log-format": [agent["logFormat"]],
        "--agent-ca-configmap": [agent["caBundle"]["configMap"]] if agent["caBundle"].get("configMap") else [],
        "--agent-ca-key": [agent["caBundle"]["key"]] if agent["caBundle"].get("configMap") else [],
        "--cluster-name": [cluster["name"]] if cluster.get("name") else [],
        "--cluster-location": [cluster["location"]] if cluster.get("location") else [],
        "--zone": [cluster["zone"]] if cluster.get("zone") else [],
    }
    problems = ["%s is %r, want %r" % (name, flag(args, name), value)
                for name, value in want.items() if flag(args, name) != value]
    if problems:
        raise SystemExit("\n".join(problems))

def platform(rendered, chart, values_file):
    """commonLabels on every object, and the annotation, registry, host network, probe and
    strategy values on the objects they are for."""
    values = merged_values(chart, values_file)
    objs = by_kind(rendered)
    problems = []
    def has(meta, key, want, what):
        got = (meta or {}).get(key) or {}
        missing = {k: v for k, v in (want or {}).items() if got.get(k) != v}
        if missing:
            problems.append("%s lacks %s %r" % (what, key, missing))
    for kind, items in objs.items():
        for o in items:
            has(o["metadata"], "labels", values.get("commonLabels"), "%s/%s" % (kind, o["metadata"]["name"]))
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]
    has(pod["metadata"], "labels", values.get("commonLabels"), "the Deployment's pod template")
    has(dep["metadata"], "annotations", values.get("deploymentAnnotations"), "the Deployment")
    has(one(objs, "Service")["metadata"], "annotations", values["service"].get("annotations"), "the Service")
    has(one(objs, "MutatingWebhookConfiguration")["metadata"], "annotations",
        values["webhook"].get("annotations"), "the MutatingWebhookConfiguration")
    spec = pod["spec"]
    host = values["webhook"].get("hostNetwork", False)
    want_dns = values["webhook"].get("dnsPolicy") or ("ClusterFirstWithHostNet" if host else None)
    if spec.get("hostNetwork", False) != host or spec.get("dnsPolicy") != want_dns:
        problems.append("hostNetwork/dnsPolicy are %r/%r, want %r/%r"
                        % (spec.get("hostNetwork"), spec.get("dnsPolicy"), host, want_dns))
    c = spec["containers"][0]
    registry = values["image"].get("registry")
    if registry and not c["image"].startswith(registry.rstrip("/") + "/" + values["image"]["repository"]):
        problems.append("image %s is not behind image.registry %s" % (c["image"], registry))
    for probe in ("readiness", "liveness"):
        got = c[probe + "Probe"]
        for k, v in values["probes"][probe].items():
            if got.get(k) != v:
                problems.append("%sProbe.%s is %r, want %r" % (probe, k, got.get(k), v))
    strategy = values["strategy"]
    want = {"type": strategy["type"]}
    if strategy["type"] == "RollingUpdate" and strategy.get("rollingUpdate"):
        want["rollingUpdate"] = strategy["rollingUpdate"]
    if dep["spec"]["strategy"] != want:
        problems.append("strategy is %r, want %r" % (dep["spec"]["strategy"], want))
    if problems:
        raise SystemExit("\n".join(problems))

def pod_monitor(rendered, chart, values_file):
    """podMonitor.enabled renders one PodMonitor that selects every pod in every namespace (any
    opt-in style: injected pods need carry no label)
    on the port the webhook names metrics on the agent, and keeps the agent container only."""
    values = merged_values(chart, values_file)
    found = by_kind(rendered).get("PodMonitor", [])
    if not values["podMonitor"]["enabled"]:
        if found:
            raise SystemExit("podMonitor.enabled is false, yet a PodMonitor is rendered")
        return
    spec = one(by_kind(rendered), "PodMonitor")["spec"]
    problems = []
    if spec.get("selector") != {}:
        problems.append("selector is %r" % spec.get("selector"))
    if spec.get("namespaceSelector") != {"any": True}:
        problems.append("namespaceSelector is %r" % spec.get("namespaceSelector"))
    ends = spec.get("podMetricsEndpoints") or [{}]
    e = ends[0]
    want = {"port": "metrics", "path": "/metrics", "interval": values["podMonitor"]["interval"],
            "scrapeTimeout": values["podMonitor"]["scrapeTimeout"]}
    problems += ["podMetricsEndpoints[0].%s is %r, want %r" % (k, e.get(k), v) for k, v in want.items() if e.get(k) != v]
    keep = [r for r in e.get("relabelings") or [] if r.get("action") == "keep"
            and r.get("sourceLabels") == ["__meta_kubernetes_pod_container_name"] and r.get("regex") == "gcp-token-agent"]
    if len(ends) != 1 or not keep:
        problems.append("want one endpoint keeping only the gcp-token-agent container: %r" % ends)
    if problems:
        raise SystemExit("\n".join(problems))

def observability(rendered, chart, values_file):
    """The PrometheusRule is files/prometheus-rules.yaml with only the values' `for` and alert
    labels applied, and promtool accepts it; the ServiceMonitor keeps the reviewed pods'
    namespace label; the dashboard ConfigMap holds files/dashboard.json with the sidecar's label."""
    import copy, subprocess, tempfile
    values = merged_values(chart, values_file)
    objs = by_kind(rendered)
    problems = []
    rule_values = values["prometheusRule"]
    found = objs.get("PrometheusRule", [])
    if not rule_values["enabled"]:
        if found:
            problems.append("prometheusRule.enabled is false, yet a PrometheusRule is rendered")
    else:
        rule = one(objs, "PrometheusRule")
        want = copy.deepcopy(docs(os.path.join(chart, "files", "prometheus-rules.yaml"))[0]["groups"])
        for group in want:
            for r in group["rules"]:
                if r["alert"] in rule_values["for"]:
                    r["for"] = rule_values["for"][r["alert"]]
                r["labels"] = dict(rule_values["alertLabels"], **r.get("labels", {}))
        if rule["spec"]["groups"] != want:
            problems += ["PrometheusRule " + d for d in differences(want, rule["spec"]["groups"], "spec.groups")]
        missing = {k: v for k, v in rule_values["labels"].items() if rule["metadata"]["labels"].get(k) != v}
        if missing:
            problems.append("PrometheusRule lacks labels %r" % missing)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
            f.flush()
            out = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
            if out.returncode != 0:
                problems.append("promtool check rules refuses the PrometheusRule's groups:\n" + out.stdout + out.stderr)
    if values["serviceMonitor"]["enabled"]:
        ends = one(objs, "ServiceMonitor")["spec"]["endpoints"]
        if [e.get("honorLabels") for e in ends] != [True]:
            problems.append("the ServiceMonitor must keep the metrics' namespace label (honorLabels: true): %r" % ends)
    dash_values = values["grafanaDashboard"]
    maps = [m for m in objs.get("ConfigMap", []) if m["metadata"]["name"].endswith("-dashboard")]
    if not dash_values["enabled"]:
        if maps:
            problems.append("grafanaDashboard.enabled is false, yet a dashboard ConfigMap is rendered")
    elif len(maps) != 1:
        problems.append("expected one dashboard ConfigMap, found %d" % len(maps))
    else:
        meta = maps[0]["metadata"]
        for key in ("labels", "annotations"):
            missing = {k: v for k, v in dash_values[key].items() if (meta.get(key) or {}).get(k) != v}
            if missing:
                problems.append("the dashboard ConfigMap lacks %s %r" % (key, missing))
        if meta["namespace"] != (dash_values["namespace"] or os.environ["NAMESPACE"]):
            problems.append("the dashboard ConfigMap is in namespace %s" % meta["namespace"])
        shipped = json.load(open(os.path.join(chart, "files", "dashboard.json")))
        if [json.loads(v) for v in maps[0]["data"].values()] != [shipped]:
            problems.append("the dashboard ConfigMap does not hold files/dashboard.json")
    if problems:
        raise SystemExit("\n".join(problems))

def dashboard(path):
    """Every panel queries something, through the data source variable, using only the
    variables the dashboard defines (tests/it/observability.rs runs each query in Prometheus)."""
    import re
    d = json.load(open(path))
    variables = {v["name"] for v in d["templating"]["list"]} | {"__rate_interval"}
    problems = [] if d.get("uid") else ["no uid: Grafana would make a new dashboard on every load"]
    panels = [p for p in d["panels"] if p["type"] != "row"]
    for p in panels:
        targets = p.get("targets") or []
        if not targets or not all(t.get("expr") for t in targets):
            problems.append("panel %r has no query" % p.get("title"))
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append("panel %r does not use the datasource variable" % p.get("title"))
        for t in targets:
            unknown = set(re.findall(r"\$(\w+)", t.get("expr", ""))) - variables
            if unknown:
                problems.append("panel %r uses undefined variables %r" % (p.get("title"), unknown))
    if problems:
        raise SystemExit("\n".join(problems))

# Fields that make the plain manifests behave like the chart; labels and comments may differ.
# Secrets are listed so that one in deploy/webhook shows up: in auto mode the webhook makes it.
DRIFT_FIELDS = {
    "Deployment": ["spec"], "Service": ["spec"], "PodDisruptionBudget": ["spec"],
    "ClusterRole": ["rules"], "ClusterRoleBinding": ["roleRef", "subjects"],
    "Role": ["rules"], "RoleBinding": ["roleRef", "subjects"], "ResourceQuota": ["spec"],
    "NetworkPolicy": ["spec"], "Secret": ["data"],
    "ServiceAccount": ["automountServiceAccountToken"], "MutatingWebhookConfiguration": ["webhooks"],
}

def differences(a, b, path):
    """The paths at which two parsed objects differ, for a readable report."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k), b.get(k), "%s.%s" % (path, k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, "%s[%d]" % (path, i))
        return out
    return [] if a == b else ["%s: plain %s, chart %s" % (path, json.dumps(a), json.dumps(b))]

def drift(rendered, *plain):
    chart = {(d["kind"], d["metadata"]["name"]): d for d in docs(rendered)}
    problems = []
    seen = set()
    for path in plain:
        for d in docs(path):
            if d["kind"] not in DRIFT_FIELDS:
                continue
            key = (d["kind"], d["metadata"]["name"])
            seen.add(key)
            if key not in chart:
                problems.append("%s: %s/%s is not in the chart's rendering" % (path, *key))
                continue
            for field in DRIFT_FIELDS[d["kind"]]:
                for diff in differences(d.get(field), chart[key].get(field), field):
                    problems.append("%s: %s/%s %s" % (path, key[0], key[1], diff))
    for key in chart:
        if key[0] in DRIFT_FIELDS and key not in seen:
            problems.append("deploy/webhook has no %s/%s" % key)
    if problems:
        raise SystemExit("\n".join(problems))

def kubeconfig(path):
    cfg = docs(path)[0]
    exe = cfg["users"][0]["user"]["exec"]
    want = {"command": "gcp-token-agent", "interactiveMode": "Never", "provideClusterInfo": True}
    bad = {k: exe.get(k) for k, v in want.items() if exe.get(k) != v}
    if bad or exe.get("args", [None])[0] != "exec-credential" or \
            exe.get("apiVersion") not in ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"):
        raise SystemExit("exec stanza is off: %r" % exe)

def value_docs(chart):
    """README.md lists every value (leaves of values.yaml, as the schema structures them) with
    its true default, and the schema knows no value that values.yaml lacks."""
    import re
    values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
    schema = json.load(open(os.path.join(chart, "values.schema.json")))
    leaves, problems = {}, []
    def walk(v, s, path):
        props = s.get("properties")
        if props and isinstance(v, dict) and v:
            for k in sorted(set(props) - set(v)):
                problems.append("values.schema.json has %s, values.yaml does not" % ".".join(path + [k]))
            for k in v:
                walk(v[k], props.get(k, {}), path + [k])
        else:
            leaves[".".join(path)] = v
    walk(values, schema, [])
    rows, section = {}, ""
    for line in open(os.path.join(chart, "README.md")):
        if line.startswith("## "):
            section = line.strip()
        m = section == "## Values" and re.match(r"^\| `([^`]+)` \| [^|]* \| `([^`]*)` \|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    for key, default in leaves.items():
        if key not in rows:
            problems.append("README.md does not list %s" % key)
        elif json.loads(rows[key]) != default:
            problems.append("README.md says %s defaults to %s, values.yaml says %s" % (key, rows[key], json.dumps(default)))
    for key in sorted(set(rows) - set(leaves)):
        problems.append("README.md lists %s, which values.yaml does not have" % key)
    if problems:
        raise SystemExit("\n".join(problems))

if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
PY

# --- the chart: lint, schema, kubeVersion, render ----------------------------------------
values_sets=(default)
for f in "$CHART"/ci/*-values.yaml; do values_sets+=("$f"); done

rendered=()
for values in "${values_sets[@]}"; do
  args=()
  label=default
  if [ "$values" != default ]; then args=(-f "$values"); label=${values#"$CHART"/}; fi
  check "helm lint --strict ($label)" helm lint --strict "$CHART" "${args[@]}"
  out=$work/rendered-$(basename "$label" .yaml).yaml
  if helm template "$RELEASE" "$CHART" -n "$NAMESPACE" --kube-version "$OLDEST" "${args[@]}" >"$out" 2>"$out.err"; then
    pass "helm template ($label)"
    rendered+=("$out")
    mode=$(python3 "$py" tls-mode "$CHART" "$values")
    check "webhook configuration keeps its safety settings, listens on [::] ($label)" python3 "$py" webhook-checks "$out" "$NAMESPACE"
    check "TLS: Secret, caBundle, Service and RBAC agree ($label, tls.mode=$mode)" python3 "$py" tls-checks "$out" "$NAMESPACE" "$mode"
    check "agent.* values reach the webhook's flags ($label)" python3 "$py" agent-args "$out" "$CHART" "$values"
    check "commonLabels, annotations, registry, hostNetwork, probes and strategy reach their objects ($label)" \
      python3 "$py" platform "$out" "$CHART" "$values"
    check "webhook.optIn: the selector or flag of its style, the probe told its key and value ($label)" \
      python3 "$py" opt-in "$out" "$CHART" "$values"
    check "helm test: webhook-probe calls the Service, trusts the published CA, passes the NetworkPolicy ($label)" \
      python3 "$py" test-hook "$out" "$CHART" "$values" "$NAMESPACE"
    check "podMonitor: the agents' port named metrics, opted-in pods, every namespace ($label)" \
      python3 "$py" pod-monitor "$out" "$CHART" "$values"
    check "prometheusRule is files/prometheus-rules.yaml and passes promtool; dashboard ConfigMap ($label)" \
      env NAMESPACE="$NAMESPACE" python3 "$py" observability "$out" "$CHART" "$values"
    # Argo CD and `helm template` users re-render on every sync: nothing may change by itself.
    check "helm template renders byte-identical output twice ($label)" \
      cmp -s "$out" <(helm template "$RELEASE" "$CHART" -n "$NAMESPACE" --kube-version "$OLDEST" "${args[@]}")
  else
    fail "helm template ($label)" "$(cat "$out.err")"
  fi
done

check "chart README.md lists every value with its default" python3 "$py" value-docs "$CHART"
check "promtool check rules: the plain rule file $CHART/files/prometheus-rules.yaml" \
  promtool check rules "$CHART/files/prometheus-rules.yaml"
check "promtool test rules: tests/prometheus/rules.test.yaml (every alert fires when it should, only then)" \
  promtool test rules tests/prometheus/rules.test.yaml
check "the dashboard's panels query through its variables only" python3 "$py" dashboard "$CHART/files/dashboard.json"
refuse "schema refuses a prometheusRule.for for an alert the chart does not have" "prometheusRule.for" \
  helm template "$RELEASE" "$CHART" --set prometheusRule.for.NoSuchAlert=5m
refuse "schema refuses an unknown top-level value" "additional property" \
  helm template "$RELEASE" "$CHART" --set replicas=2
refuse "extraArgs may not repeat a flag the chart sets (the webhook refuses repeats)" "extraArgs: --log-level is set by the chart" \
  helm template "$RELEASE" "$CHART" --set 'extraArgs[0]=--log-level=debug'
refuse "schema refuses an unknown failurePolicy" "failurePolicy" \
  helm template "$RELEASE" "$CHART" --set webhook.failurePolicy=Sometimes
refuse "schema refuses a malformed workload identity provider" "workloadIdentityProvider" \
  helm template "$RELEASE" "$CHART" --set agent.workloadIdentityProvider=projects/my-project/pools/p
refuse "schema refuses tls.mode=secret without a Secret" "name|caBundle" \
  helm template "$RELEASE" "$CHART" --set tls.mode=secret
refuse "schema refuses the removed tls.mode=helm (a new CA on every render)" "tls.mode.*one of" \
  helm template "$RELEASE" "$CHART" --set tls.mode=helm
refuse "schema refuses a tls.auto.validity in days" "validity.*pattern" \
  helm template "$RELEASE" "$CHART" --set tls.auto.validity=90d
refuse "schema refuses an In expression without values" "values is required" \
  helm template "$RELEASE" "$CHART" --set 'webhook.namespaceSelectorExpressions[0].key=team' \
  --set 'webhook.namespaceSelectorExpressions[0].operator=In'
refuse "schema refuses an Exists expression with values" "values.*at most 0" \
  helm template "$RELEASE" "$CHART" --set 'webhook.namespaceSelectorExpressions[0].key=team' \
  --set 'webhook.namespaceSelectorExpressions[0].operator=Exists' \
  --set 'webhook.namespaceSelectorExpressions[0].values[0]=a'
refuse "webhook.optIn podAnnotation with failurePolicy Fail and no narrowed namespaces is refused" \
  "optIn.style=podAnnotation.*failurePolicy=Fail.*namespaceSelectorExpressions" \
  helm template "$RELEASE" "$CHART" --set webhook.optIn.style=podAnnotation
refuse "webhook.optIn podAnnotation with Fail: a NotIn term does not narrow the namespaces" \
  "optIn.style=podAnnotation.*namespaceSelectorExpressions" \
  helm template "$RELEASE" "$CHART" --set webhook.optIn.style=podAnnotation \
  --set 'webhook.namespaceSelectorExpressions[0].key=team' \
  --set 'webhook.namespaceSelectorExpressions[0].operator=NotIn' \
  --set 'webhook.namespaceSelectorExpressions[0].values[0]=a'
check "webhook.optIn podAnnotation renders with failurePolicy Ignore" \
  helm template "$RELEASE" "$CHART" --set webhook.optIn.style=podAnnotation --set webhook.failurePolicy=Ignore
refuse "schema refuses an unknown webhook.optIn.style" "optIn.style" \
  helm template "$RELEASE" "$CHART" --set webhook.optIn.style=podLabels
refuse "schema refuses a label opt-in value that is not a label value" "optIn.value.*pattern" \
  helm template "$RELEASE" "$CHART" --set 'webhook.optIn.value=yes please'
refuse "schema refuses an opt-in key that is not a qualified name" "optIn.key.*pattern" \
  helm template "$RELEASE" "$CHART" --set 'webhook.optIn.key=a b'
refuse "schema refuses an opt-in key under gcp-token-agent.io/ but inject (the webhook's settings)" \
  "optIn.key.*gcp-token-agent.io/inject" \
  helm template "$RELEASE" "$CHART" --set 'webhook.optIn.key=gcp-token-agent.io/enabled'
refuse "extraArgs may not set the opt-in (the chart renders its selector)" "extraArgs: --opt-in is set by the chart" \
  helm template "$RELEASE" "$CHART" --set 'extraArgs[0]=--opt-in=pod-annotation'
refuse "PodDisruptionBudget: minAvailable >= replicaCount is refused" "minAvailable.*must be below replicaCount" \
  helm template "$RELEASE" "$CHART" --set replicaCount=2 --set podDisruptionBudget.minAvailable=2
refuse "PodDisruptionBudget: maxUnavailable 0 is refused" "maxUnavailable.*allows no disruption" \
  helm template "$RELEASE" "$CHART" --set podDisruptionBudget.maxUnavailable=0
refuse "NetworkPolicy without apiServerPeers is refused" "apiServerPeers must list" \
  helm template "$RELEASE" "$CHART" --set networkPolicy.enabled=true
refuse "schema refuses a cluster.zone that is not a zone" "zone" \
  helm template "$RELEASE" "$CHART" --set cluster.zone=us-central1
refuse "schema refuses a cluster.name with a slash" "name" \
  helm template "$RELEASE" "$CHART" --set cluster.name=a/b
refuse "agent ports must differ" "agent.ports.*must differ" \
  helm template "$RELEASE" "$CHART" --set agent.ports.admin=8989
check "schema accepts agent.workloadIdentityProvider=metadata and sidecarMode=auto" \
  helm template "$RELEASE" "$CHART" --set agent.workloadIdentityProvider=metadata --set agent.sidecarMode=auto
refuse "kubeVersion refuses Kubernetes 1.28 (no native sidecars by default)" "kubeVersion|incompatible" \
  helm template "$RELEASE" "$CHART" --kube-version 1.28.15

# --- as a subchart: what an umbrella chart passes (global, enabled) ------------------------
# A parent chart with this chart as a file:// dependency, switched on by the usual condition;
# `helm template` validates the subchart's values against its strict schema.
umbrella=$work/umbrella
mkdir -p "$umbrella"
cat >"$umbrella/Chart.yaml" <<EOF
apiVersion: v2
name: platform
version: 0.0.1
dependencies:
  - name: gcp-token-agent
    version: "$(sed -n 's/^version: *//p' "$CHART/Chart.yaml")"
    repository: "file://$PWD/$CHART"
    condition: gcp-token-agent.enabled
EOF
cat >"$umbrella/values.yaml" <<'EOF'
global:
  imageRegistry: mirror.example.com
  imagePullSecrets: [regcred]
gcp-token-agent:
  enabled: true
  commonLabels:
    example.com/umbrella: platform
EOF
if out=$(helm dependency build "$umbrella" 2>&1); then
  pass "helm dependency build of an umbrella chart with a file:// dependency"
  check "the chart renders as a subchart (global and enabled pass its strict schema)" \
    bash -c 'helm template platform "$1" -n "$2" --kube-version "$3" | grep -q "example.com/umbrella: platform"' \
    _ "$umbrella" "$NAMESPACE" "$OLDEST"
  check "the umbrella's condition switches the subchart off (enabled: false renders none of it)" \
    bash -c '! helm template platform "$1" -n "$2" --kube-version "$3" --set gcp-token-agent.enabled=false | grep -q MutatingWebhookConfiguration' \
    _ "$umbrella" "$NAMESPACE" "$OLDEST"
  refuse "the subchart's strict schema still refuses an unknown value under the umbrella" "additional property" \
    helm template platform "$umbrella" --set gcp-token-agent.replicas=2
else
  fail "helm dependency build of an umbrella chart with a file:// dependency" "$out"
fi

# --- schemas: every rendered document and every deploy/ manifest -------------------------
mapfile -t deploy_files < <(find deploy -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
split_dir=$work/docs
mkdir -p "$split_dir"
if index=$(python3 "$py" split "$split_dir" "${rendered[@]}" "${deploy_files[@]}" 2>&1); then
  while IFS=$'\t' read -r doc source kind name; do
    [ -n "$doc" ] || continue
    what="$kind $name (${source#"$work"/})"
    if grep -qxF -- "$kind" <<<"$(tr -s ' \n' '\n' <<<"$SKIP_KINDS")"; then
      skip "$what: no schema in kubernetes-validate"
      continue
    fi
    # kubernetes-validate passes kinds it has no schema for with a WARN: treat that as failure.
    if out=$(kubernetes-validate --strict --quiet -k "$OLDEST" -k "$NEWEST" "$doc" 2>&1) \
        && ! grep -qE '^(WARN|ERROR|FATAL)' <<<"$out"; then
      pass "kubernetes-validate --strict $OLDEST $NEWEST: $what"
    else
      fail "kubernetes-validate --strict $OLDEST $NEWEST: $what" "$out"
    fi
  done <<<"$index"
else
  fail "split YAML documents" "$index"
fi

# --- deploy/: what schemas cannot see ------------------------------------------------------
default_render=$work/rendered-default.yaml
check "deploy/webhook matches the chart's default rendering" \
  python3 "$py" drift "$default_render" deploy/webhook/*.yaml
check "kubectl kustomize deploy/webhook builds" kubectl kustomize deploy/webhook
check "deploy/kubeconfig-exec-credential.yaml has the exec stanza the README documents" \
  python3 "$py" kubeconfig deploy/kubeconfig-exec-credential.yaml
# kubectl must load the kubeconfig and get as far as running the plugin. With an empty PATH
# the plugin is not found, which proves the exec stanza parsed (a bad interactiveMode, say,
# fails earlier) and that the installHint is shown; the example server is never contacted.
refuse "kubectl loads the kubeconfig and runs gcp-token-agent as its credential plugin" \
  "executable gcp-token-agent not found" \
  env PATH=/nonexistent "$(command -v kubectl)" --kubeconfig deploy/kubeconfig-exec-credential.yaml \
  get --raw /version --request-timeout=2s

# --- the image -----------------------------------------------------------------------------
check "hadolint Dockerfile" hadolint Dockerfile
check "the Dockerfile's base images default to digest-pinned references" \
  test "$(grep -cE '^ARG (RUST|RUNTIME)_IMAGE=[^ ]+:[^ ]+@sha256:[0-9a-f]{64}$' Dockerfile)" -eq 2
# The runtime stage must hold what scripts/release/build-image.sh's image holds (tests/it/image.rs runs
# that one): scripts/release/image-rootfs.sh's files, on scratch for linux/amd64, as user 65532.
check "the Dockerfile's linux/amd64 runtime is scratch" grep -qx 'FROM scratch AS runtime-amd64' Dockerfile
check "the Dockerfile's runtime files come from scripts/release/image-rootfs.sh" \
  grep -q 'bash scripts/release/image-rootfs.sh "$release/gcp-token-agent" /rootfs' Dockerfile
check "the Dockerfile's final stage copies that file system whole and nothing else" \
  test "$(sed -n '/^FROM runtime-/,$p' Dockerfile | grep -cE '^(COPY|ADD|RUN) ')" -eq 1 -a \
  "$(sed -n '/^FROM runtime-/,$p' Dockerfile | grep -c '^COPY --from=build /rootfs/ /$')" -eq 1
check "the Dockerfile and scripts/release/build-image.sh run as 65532:65532 with the same entrypoint" \
  test "$(cat Dockerfile scripts/release/build-image.sh |
    grep -cE '^USER 65532:65532$|^ENTRYPOINT \["/usr/local/bin/gcp-token-agent"\]$')" -eq 4

echo "validate-k8s: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
