{{/*
Object names are fixed, not derived from the release name: they are the names deploy/ uses, the
ones docs/credentials.md's `kubectl create rolebinding ... --serviceaccount=NAMESPACE:natgw-operator` and
the Lease (src/leader.rs) rely on. One release per cluster, as with deploy/.
*/}}

{{/* Labels of every object: deploy/'s `app.kubernetes.io/part-of`, and Helm's own. */}}
{{- define "natgw-operator.labels" -}}
app.kubernetes.io/part-of: natgw-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Labels of the operator's own objects (deploy/base/): the above and its name. */}}
{{- define "natgw-operator.baseLabels" -}}
app.kubernetes.io/name: natgw-operator
{{ include "natgw-operator.labels" . }}
{{- end }}

{{/* The pods' labels and the Deployment's selector (immutable once created: never add to it). */}}
{{- define "natgw-operator.selectorLabels" -}}
app.kubernetes.io/name: natgw-operator
app.kubernetes.io/component: controller
{{- end }}

{{- define "natgw-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
What the operator calls, as deploy/rbac/clusterrole.yaml and deploy/namespaced/role.yaml grant it.
`secrets`: also get, list and watch Secrets (the namespaced install reads its own namespace's).
*/}}
{{- define "natgw-operator.rules" -}}
# Watched by the controller; the start-up check lists them to see the CRD is installed.
- apiGroups: ["natgw.io"]
  resources: ["natgateways"]
  # patch: only the finalizers natgw.io/unpaid-order (an order waits to be paid by hand) and
  # natgw.io/cloud-claim (a claim tag to remove), each by server-side apply under a manager of its own.
  verbs: ["get", "list", "watch", "patch"]
# The operator writes only status, never the spec, labels or annotations.
- apiGroups: ["natgw.io"]
  resources: ["natgateways/status"]
  verbs: ["get", "patch"]
{{- if .secrets }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- if .grants }}
# What grants the namespaces' Secrets, metadata only: with secretAccess: granted a changed
# RoleBinding or Role makes the operator ask again whether it may read them (unused with
# secretAccess: cluster, which shares this ClusterRole as deploy/all-secrets/ does).
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["rolebindings", "roles"]
  verbs: ["list", "watch"]
{{- end }}
# workloadIdentity: a short-lived token of the ServiceAccount a NatGateway names; create on the
# token subresource only, no get/list of ServiceAccounts.
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The subject of every binding: the operator's ServiceAccount in the release's namespace. */}}
{{- define "natgw-operator.subjects" -}}
- kind: ServiceAccount
  name: natgw-operator
  namespace: {{ .Release.Namespace }}
{{- end }}
