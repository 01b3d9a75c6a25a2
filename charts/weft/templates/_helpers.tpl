{{/* Names, labels and shared pod settings of the weft chart. Object names are fixed (weft-ca,
weft-injector, weft-gateway) because proxies and docs name them: one weft per cluster. */}}

{{/* The image reference of every weft container: repository@digest when image.digest is set or
the tag is itself a digest (repository:sha256:... is not a valid reference), else repository:tag. */}}
{{- define "weft.image" -}}
{{- $img := .Values.image -}}
{{- $tag := $img.tag | default .Chart.AppVersion -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else if hasPrefix "sha256:" $tag -}}
{{ $img.repository }}@{{ $tag }}
{{- else -}}
{{ $img.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* Label keys the chart sets itself; commonLabels and podLabels may not set them (a selector
label cannot change after install, and a duplicate key is an invalid manifest). */}}
{{- define "weft.reservedLabels" -}}
app.kubernetes.io/name,app.kubernetes.io/instance,app.kubernetes.io/version,app.kubernetes.io/managed-by,app.kubernetes.io/part-of,app.kubernetes.io/component,helm.sh/chart,weft.dev/component
{{- end -}}

{{/* Labels on every object; pass (dict "root" $ "component" "ca"). */}}
{{- define "weft.labels" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: weft
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
weft.dev/component: {{ .component }}
{{- end }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component; weft.dev/component also keeps the webhook off weft's pods. */}}
{{- define "weft.selectorLabels" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .root.Release.Name }}
weft.dev/component: {{ .component }}
{{- end -}}

{{/* The restricted-profile security context of every weft container. */}}
{{- define "weft.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod security context shared by weft's Deployments. */}}
{{- define "weft.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Where one component's pods run; pass (dict "root" $ "component" "ca" "values" .Values.ca). Its values
(priorityClassName, affinity, topologySpreadConstraints, nodeSelector, tolerations) win; empty
affinity and spread mean the defaults: spread over nodes and zones and prefer one pod per node,
both preferred, so a one-node cluster still schedules. */}}
{{- define "weft.scheduling" -}}
{{- $v := .values -}}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- else }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "weft.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "weft.selectorLabels" . | nindent 8 }}
{{- end }}
{{- if $v.affinity }}
affinity:
  {{- toYaml $v.affinity | nindent 2 }}
{{- else }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "weft.selectorLabels" . | nindent 14 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Probes on /live and /ready; pass (dict "port" <port name> "scheme" "HTTP"|"HTTPS"). */}}
{{- define "weft.probes" -}}
startupProbe:
  httpGet:
    path: /ready
    port: {{ .port }}
    scheme: {{ .scheme }}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /live
    port: {{ .port }}
    scheme: {{ .scheme }}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /ready
    port: {{ .port }}
    scheme: {{ .scheme }}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
{{- end -}}

{{/* Env every weft process reads (docs/sidecar-config.md): its trust domain, and its pod name for log lines. */}}
{{- define "weft.podEnv" -}}
- name: WEFT_TRUST_DOMAIN
  value: {{ .Values.trustDomain | quote }}
- name: WEFT_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/* The pod's namespace from the downward API (weft ca and weft gateway read it). */}}
{{- define "weft.podNamespaceEnv" -}}
- name: WEFT_POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* What a meshed weft process (the gateway) needs beyond that: its mode and its identity's service account. */}}
{{- define "weft.meshEnv" -}}
- name: WEFT_MODE
  value: kubernetes
- name: WEFT_SERVICE_ACCOUNT
  valueFrom:
    fieldRef:
      fieldPath: spec.serviceAccountName
{{- end -}}

{{/* The Secret the injector serves its webhook certificate from: cert-manager's own (a name of its
own, so that switching provider never has Helm delete the Secret cert-manager just wrote), the
user's, or the one the chart generates. */}}
{{- define "weft.injectorTlsSecret" -}}
{{- if eq .Values.injector.tls.provider "cert-manager" -}}
weft-injector-cert
{{- else -}}
{{- .Values.injector.tls.existingSecret | default "weft-injector-tls" -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the webhook never sees: kube-system, weft's own, and the configured ones. */}}
{{- define "weft.excludedNamespaces" -}}
- kube-system
- {{ .Release.Namespace }}
{{- range .Values.injector.webhook.excludeNamespaces }}
- {{ . }}
{{- end }}
{{- end -}}

{{/* The gateway's TLS Secrets as "namespace/name,..." for WEFT_GATEWAY_TLS_SECRETS. */}}
{{- define "weft.gatewaySecretList" -}}
{{- $out := list }}
{{- range .Values.gateway.tlsSecrets }}
{{- $out = append $out (printf "%s/%s" .namespace .name) }}
{{- end }}
{{- join "," $out }}
{{- end -}}

{{/* "true" when the injector should add the proxy as a native sidecar (Kubernetes >= 1.29). */}}
{{- define "weft.nativeSidecars" -}}
{{- $mode := .Values.injector.sidecarMode }}
{{- if eq $mode "auto" }}
{{- semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version }}
{{- else }}
{{- eq $mode "native" }}
{{- end }}
{{- end -}}

{{/*
NODE_OPTIONS for a weft process from its container's memory limit: V8's old space gets 40 % of the
limit and at least 64 MB, 64 MB without a limit (lib/node-options.ts, what the injector gives
sidecars). Without it V8 sizes its heap from the node's memory and lets garbage pile up.
Takes the limit quantity (string or number, may be empty).
*/}}
{{- define "weft.nodeOptions" -}}
{{- $q := toString (default "" .) -}}
{{- $mib := 0 -}}
{{- if hasSuffix "Gi" $q -}}{{- $mib = mul (atoi (trimSuffix "Gi" $q)) 1024 -}}
{{- else if hasSuffix "Mi" $q -}}{{- $mib = atoi (trimSuffix "Mi" $q) -}}
{{- else if hasSuffix "Ki" $q -}}{{- $mib = div (atoi (trimSuffix "Ki" $q)) 1024 -}}
{{- else if hasSuffix "G" $q -}}{{- $mib = div (mul (atoi (trimSuffix "G" $q)) 1000000000) 1048576 -}}
{{- else if hasSuffix "M" $q -}}{{- $mib = div (mul (atoi (trimSuffix "M" $q)) 1000000) 1048576 -}}
{{- else if regexMatch "^[0-9]+$" $q -}}{{- $mib = div (atoi $q) 1048576 -}}
{{- end -}}
{{- if eq $q "" -}}--max-old-space-size=64{{- else -}}--max-old-space-size={{ max 64 (div (mul $mib 40) 100) }}{{- end -}}
{{- end -}}
