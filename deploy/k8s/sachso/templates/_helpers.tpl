{{/*
Names: every resource is "<prefix>-<component>", the prefix being the release name (or fullnameOverride).
*/}}
{{- define "sachso.prefix" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "sachso.name" -}}
{{- printf "%s-%s" (include "sachso.prefix" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The four services, in a fixed order, with what the code needs of each (services/<name>/settings.py). */}}
{{- define "sachso.services" -}}
{{- /* trusts: whose tokens (JWKS) the service verifies; grpcClientOf in the values says whom it calls. */ -}}
lending: {prefix: LENDING, s3: false, signing: true, smtp: false, trusts: [lending, drm]}
reader: {prefix: READER, s3: true, signing: true, smtp: false, trusts: [lending, drm]}
drm: {prefix: DRM, s3: true, signing: true, smtp: false, trusts: [lending, drm, reader]}
notify: {prefix: NOTIFY, s3: false, signing: false, smtp: true, trusts: [lending, drm]}
{{- end -}}

{{- define "sachso.serviceNames" -}}
{{- list "lending" "reader" "drm" "notify" | toJson -}}
{{- end -}}

{{- define "sachso.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: sachso
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "sachso.selectorLabels" . }}
{{- end -}}

{{- define "sachso.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "sachso.image" -}}
{{- $image := .root.Values.image -}}
{{- $repository := printf "%s/%s%s" $image.registry $image.repositoryPrefix .component -}}
{{- $digest := get $image.digests .component -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* In-cluster HTTP base URL of a service (JWKS). */}}
{{- define "sachso.internalUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "sachso.name" .) .root.Release.Namespace .root.Values.ports.http -}}
{{- end -}}

{{/* In-cluster gRPC target (host:port) of a service. */}}
{{- define "sachso.grpcTarget" -}}
{{- printf "%s.%s.svc:%v" (include "sachso.name" .) .root.Release.Namespace .root.Values.ports.grpc -}}
{{- end -}}

{{/* Public base URL of a component: publicUrls.<component> if set, else https://<its ingress host> (http
without TLS). Links in licences and messages, the web app's config.json and CORS all use this one URL. */}}
{{- define "sachso.publicUrl" -}}
{{- $values := .root.Values -}}
{{- $host := "" -}}
{{- if eq .component "web" -}}
{{- $host = $values.web.ingress.host -}}
{{- else -}}
{{- $host = (get $values.services .component).ingress.host -}}
{{- end -}}
{{- default (printf "%s://%s" (ternary "https" "http" $values.ingress.tls.enabled) $host) (get $values.publicUrls .component) -}}
{{- end -}}

{{/* Browser origins allowed to call the APIs: the web app's, and cors.extraOrigins. */}}
{{- define "sachso.corsOrigins" -}}
{{- $web := include "sachso.publicUrl" (dict "root" .root "component" "web") -}}
{{- $origins := list -}}
{{- if .root.Values.web.enabled -}}
{{- $origins = append $origins (regexReplaceAll "^([a-z]+://[^/]+).*$" $web "${1}") -}}
{{- end -}}
{{- join "," (concat $origins .root.Values.cors.extraOrigins) -}}
{{- end -}}

{{/* Checkov rules skipped for every workload, with the reason (checkov reads checkov.io/skipN annotations). */}}
{{- define "sachso.checkovSkips" -}}
checkov.io/skip1: "CKV_K8S_43=Images are referenced by immutable release tag; set image.digests to pin digests per component"
checkov.io/skip2: "CKV_K8S_15=Release tags are never re-used, so IfNotPresent pulls the same image as Always without depending on the registry at every start"
{{- end -}}

{{- define "sachso.topologySpread" -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: {{ .root.Values.topologySpread.zone }}
  labelSelector:
    matchLabels:
      {{- include "sachso.selectorLabels" . | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: {{ .root.Values.topologySpread.node }}
  labelSelector:
    matchLabels:
      {{- include "sachso.selectorLabels" . | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end -}}

{{- define "sachso.podScheduling" -}}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
  {{- include "sachso.topologySpread" . | nindent 2 }}
{{- end -}}

{{/* Physical Kafka name (topic or consumer group) with the install's prefix. */}}
{{- define "sachso.kafkaName" -}}
{{- printf "%s%s" .root.Values.kafka.topicPrefix .name -}}
{{- end -}}
