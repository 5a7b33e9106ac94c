{{/* Names and labels shared by the templates. */}}

{{- define "mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name alone when it already says mcp ("mcp", "mcp-prod"), so that release
"mcp" names its objects as deploy/kustomize/base does. */}}
{{- define "mcp.fullname" -}}
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

{{- define "mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcp.labels" -}}
{{ include "mcp.selectorLabels" . }}
app.kubernetes.io/component: control-plane
app.kubernetes.io/part-of: mcp
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcp.serviceAccountName" -}}
{{- default (include "mcp.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "mcp.tokenSecretName" -}}
{{- default (printf "%s-token" (include "mcp.fullname" .)) .Values.token.secretName }}
{{- end }}

{{/* mcp serve's configuration file: the chart's values for it, then .Values.config. */}}
{{- define "mcp.config" -}}
{{- $cfg := dict "log" (dict "level" .Values.log.level "format" .Values.log.format) "kube" (dict "namespace" .Values.kube.namespace) }}
{{- $col := dict "enabled" .Values.collector.enabled }}
{{- if .Values.collector.enabled }}
{{- $_ := set $col "otlp_grpc_addr" (printf ":%v" .Values.collector.otlpGrpcPort) }}
{{- $_ := set $col "otlp_http_addr" (printf ":%v" .Values.collector.otlpHttpPort) }}
{{- $_ := set $col "profile_addr" (printf ":%v" .Values.collector.profilesPort) }}
{{- end }}
{{- $_ := set $cfg "collector" $col }}
{{- $_ := set $cfg "http_addr" (printf ":%v" .Values.service.httpPort) }}
{{- $_ := set $cfg "agent_addr" (printf ":%v" .Values.service.agentPort) }}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy .Values.config)) }}
{{- end }}
