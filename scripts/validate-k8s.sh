#!/usr/bin/env bash
# Lints and validates the Kubernetes packaging, offline:
#   * the Helm chart: `helm lint --strict` and `helm template` with the default values and with
#     every charts/gcp-token-agent/ci/*-values.yaml; the values schema must refuse bad values;
#     the kubeVersion floor must hold;
#   * every rendered document and every manifest in deploy/: `kubernetes-validate --strict`
#     against the oldest Kubernetes the chart claims (its kubeVersion) and the newest schema
#     kubernetes-validate ships;
#   * what schemas cannot see: the generated CA really signs the serving certificate for the
#     Service's name, the webhook configuration keeps its safety settings, deploy/webhook does
#     not drift from the chart, kubectl loads deploy/kubeconfig-exec-credential.yaml and runs
#     the plugin it names;
#   * the Dockerfile: hadolint.
# Every check runs even after a failure; the last line counts them, and the exit status is
# non-zero if any failed. Tools: scripts/install-test-deps.sh. VERBOSE=1 lists passing checks.
set -uo pipefail
cd "$(dirname "$0")/.."

CHART=charts/gcp-token-agent
# The chart's documented install: `helm install gcp-token-agent ... -n gcp-token-agent`.
# deploy/webhook/ is the same thing without Helm, so it is compared with this rendering.
RELEASE=gcp-token-agent
NAMESPACE=gcp-token-agent

# Kinds whose schemas kubernetes-validate does not ship (CRDs and client-side files). They are
# skipped on purpose, and counted as skipped, never silently passed:
#   cert-manager.io Certificate/Issuer/ClusterIssuer  (cert-manager CRDs: tls.mode=cert-manager)
#   monitoring.coreos.com ServiceMonitor              (Prometheus Operator CRD: serviceMonitor.enabled)
#   kustomize.config.k8s.io Kustomization             (read by kubectl -k; built below instead)
#   Config (v1)                                       (a kubeconfig; loaded by kubectl below instead)
SKIP_KINDS="cert-manager.io/Certificate cert-manager.io/Issuer cert-manager.io/ClusterIssuer
monitoring.coreos.com/ServiceMonitor kustomize.config.k8s.io/Kustomization v1/Config"

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
for tool in helm kubernetes-validate hadolint kubectl openssl python3; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "validate-k8s: missing:$missing (run scripts/install-test-deps.sh)"
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
import base64, json, os, subprocess, sys, tempfile
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
        "objectSelector": {"matchLabels": {"gcp-token-agent.io/inject": "true"}},
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
    sc = c.get("securityContext", {})
    if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities", {}).get("drop") == ["ALL"]):
        problems.append("webhook container securityContext is not hardened: %r" % sc)
    if problems:
        raise SystemExit("\n".join(problems))

def tls_checks(rendered, namespace, mode):
    """The CA the API server trusts must be the one that signed what the pods serve."""
    objs = by_kind(rendered)
    w = one(objs, "MutatingWebhookConfiguration")
    client = w["webhooks"][0]["clientConfig"]
    dep = one(objs, "Deployment")
    secret_name = [v["secret"]["secretName"] for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"][0]
    svc = "%s.%s.svc" % (client["service"]["name"], namespace)
    if mode == "cert-manager":
        ann = (w["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from", "")
        certs = {c["metadata"]["name"]: c for c in objs.get("Certificate", [])}
        cert = certs.get(ann.split("/", 1)[-1])
        problems = []
        if not ann.startswith(namespace + "/") or cert is None:
            problems.append("inject-ca-from %r names no rendered Certificate" % ann)
        elif cert["spec"]["secretName"] != secret_name or svc not in cert["spec"]["dnsNames"]:
            problems.append("Certificate %r does not issue %s for %s" % (cert["metadata"]["name"], secret_name, svc))
        if "caBundle" in client:
            problems.append("caBundle is set, but cainjector owns it")
        if problems:
            raise SystemExit("\n".join(problems))
        return
    secrets = {s["metadata"]["name"]: s for s in objs.get("Secret", [])}
    if mode == "secret":
        if secret_name in secrets or not client.get("caBundle"):
            raise SystemExit("tls.mode=secret must use the user's Secret %s and caBundle" % secret_name)
        return
    data = secrets[secret_name]["data"]
    if client.get("caBundle") != data["ca.crt"]:
        raise SystemExit("caBundle differs from the Secret's ca.crt")
    with tempfile.TemporaryDirectory() as d:
        for key in ("ca.crt", "tls.crt", "tls.key"):
            with open(os.path.join(d, key), "wb") as f:
                f.write(base64.b64decode(data[key]))
        r = subprocess.run(["openssl", "verify", "-CAfile", "ca.crt", "-purpose", "sslserver",
                            "-verify_hostname", svc, "tls.crt"], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("tls.crt does not verify for %s against ca.crt: %s%s" % (svc, r.stdout, r.stderr))
        cert_pub = subprocess.run(["openssl", "x509", "-in", "tls.crt", "-noout", "-pubkey"],
                                  cwd=d, capture_output=True).stdout
        key_pub = subprocess.run(["openssl", "pkey", "-in", "tls.key", "-pubout"],
                                 cwd=d, capture_output=True).stdout
        if not cert_pub or cert_pub != key_pub:
            raise SystemExit("tls.key is not the key of tls.crt")

# Fields that make the plain manifests behave like the chart; labels and comments may differ.
DRIFT_FIELDS = {
    "Deployment": ["spec"], "Service": ["spec"], "PodDisruptionBudget": ["spec"],
    "ClusterRole": ["rules"], "ClusterRoleBinding": ["roleRef", "subjects"],
    "ServiceAccount": ["automountServiceAccountToken"], "MutatingWebhookConfiguration": ["webhooks"],
}

def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in ("caBundle",)}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj

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
                for diff in differences(strip(d.get(field)), strip(chart[key].get(field)), field):
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
    mode=$(python3 -c 'import sys,yaml; v=yaml.safe_load(open(sys.argv[1])) if sys.argv[1]!="default" else {}; print(((v or {}).get("tls") or {}).get("mode","helm"))' "$values")
    check "webhook configuration keeps its safety settings ($label)" python3 "$py" webhook-checks "$out" "$NAMESPACE"
    check "TLS: the trusted CA matches what the pods serve ($label, tls.mode=$mode)" python3 "$py" tls-checks "$out" "$NAMESPACE" "$mode"
  else
    fail "helm template ($label)" "$(cat "$out.err")"
  fi
done

check "chart README.md lists every value with its default" python3 "$py" value-docs "$CHART"
refuse "schema refuses an unknown top-level value" "additional property" \
  helm template "$RELEASE" "$CHART" --set replicas=2
refuse "schema refuses an unknown failurePolicy" "failurePolicy" \
  helm template "$RELEASE" "$CHART" --set webhook.failurePolicy=Sometimes
refuse "schema refuses a malformed workload identity provider" "workloadIdentityProvider" \
  helm template "$RELEASE" "$CHART" --set agent.workloadIdentityProvider=projects/my-project/pools/p
refuse "schema refuses tls.mode=secret without a Secret" "name|caBundle" \
  helm template "$RELEASE" "$CHART" --set tls.mode=secret
refuse "kubeVersion refuses Kubernetes 1.28 (no native sidecars by default)" "kubeVersion|incompatible" \
  helm template "$RELEASE" "$CHART" --kube-version 1.28.15

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

echo "validate-k8s: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
