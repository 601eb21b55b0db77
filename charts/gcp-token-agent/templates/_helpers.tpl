{{/*
Names and labels shared by every template.
*/}}

{{- define "gcp-token-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "gcp-token-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gcp-token-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gcp-token-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gcp-token-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "gcp-token-agent.labels" -}}
helm.sh/chart: {{ include "gcp-token-agent.chart" . }}
{{ include "gcp-token-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gcp-token-agent
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "gcp-token-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gcp-token-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "gcp-token-agent.imageRef" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/* image.repository, behind image.registry when one is set. */}}
{{- define "gcp-token-agent.repository" -}}
{{- if .Values.image.registry }}
{{- printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository }}
{{- else }}
{{- .Values.image.repository }}
{{- end }}
{{- end }}

{{- define "gcp-token-agent.image" -}}
{{- $img := .Values.image }}
{{- include "gcp-token-agent.imageRef" (dict "repository" (include "gcp-token-agent.repository" .) "tag" (default .Chart.AppVersion $img.tag) "digest" $img.digest) }}
{{- end }}

{{/* The agent image injected into pods: agent.image, each empty field falling back to image. */}}
{{- define "gcp-token-agent.agentImage" -}}
{{- $img := .Values.image }}
{{- $agent := .Values.agent.image }}
{{- $repository := default (include "gcp-token-agent.repository" .) $agent.repository }}
{{- $tag := default (default .Chart.AppVersion $img.tag) $agent.tag }}
{{- /* A digest belongs to one repository: inherit it only when the repository is inherited too. */}}
{{- $digest := $agent.digest }}
{{- if and (not $digest) (not $agent.repository) (not $agent.tag) }}
{{- $digest = $img.digest }}
{{- end }}
{{- include "gcp-token-agent.imageRef" (dict "repository" $repository "tag" $tag "digest" $digest) }}
{{- end }}

{{- define "gcp-token-agent.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- required "tls.secret.name is required when tls.mode is secret" .Values.tls.secret.name }}
{{- else }}
{{- printf "%s-tls" (include "gcp-token-agent.fullname" .) }}
{{- end }}
{{- end }}

{{/* DNS names the API server may use for the Service; it calls SERVICE.NAMESPACE.svc. */}}
{{- define "gcp-token-agent.dnsNames" -}}
{{- $svc := include "gcp-token-agent.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson }}
{{- end }}

{{- define "gcp-token-agent.certManagerCAName" -}}
{{- printf "%s-ca" (include "gcp-token-agent.fullname" .) }}
{{- end }}

{{/* What the NetworkPolicy admits the `helm test` pod by. */}}
{{- define "gcp-token-agent.testSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{/* Labels of the `helm test` objects: not the webhook's selector labels, so the Service never
     sends reviews to the test pod. */}}
{{- define "gcp-token-agent.testLabels" -}}
helm.sh/chart: {{ include "gcp-token-agent.chart" . }}
app.kubernetes.io/name: {{ include "gcp-token-agent.name" . }}
{{ include "gcp-token-agent.testSelectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gcp-token-agent
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
