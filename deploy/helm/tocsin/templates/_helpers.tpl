{{/*
Names, labels and the pieces of configuration every service shares.

Most helpers take a "service context": (dict "root" $ "key" "incidentCore"), where key is the
service's block in values.yaml. The component name (incident-core) is the key in kebab case, and
is what names the objects, the container and the image.
*/}}

{{- define "tocsin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-tocsin, or the release name alone when it already contains the chart name. */}}
{{- define "tocsin.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tocsin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. Takes the root context. */}}
{{- define "tocsin.labels" -}}
helm.sh/chart: {{ include "tocsin.chart" . }}
app.kubernetes.io/name: {{ include "tocsin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tocsin
{{- end -}}

{{/* The component of a service context: incidentCore -> incident-core. */}}
{{- define "tocsin.component" -}}
{{- kebabcase .key -}}
{{- end -}}

{{/* Selector labels of one component (immutable in a Deployment: never add to them). */}}
{{- define "tocsin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tocsin.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ include "tocsin.component" . }}
{{- end -}}

{{- define "tocsin.componentLabels" -}}
{{ include "tocsin.labels" .root }}
app.kubernetes.io/component: {{ include "tocsin.component" . }}
{{- end -}}

{{/* <fullname>-<component>: the Deployment, Service, PDB... of a service. */}}
{{- define "tocsin.componentName" -}}
{{- printf "%s-%s" (include "tocsin.fullname" .root) (include "tocsin.component" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tocsin.serviceAccountName" -}}
{{- $sa := (index .root.Values .key).serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "tocsin.componentName" .) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* Workload Identity client id of a service ("" when Workload Identity is off). */}}
{{- define "tocsin.workloadIdentityClientId" -}}
{{- if .root.Values.workloadIdentity.enabled -}}
{{- default .root.Values.workloadIdentity.clientId (index .root.Values .key).serviceAccount.workloadIdentityClientId -}}
{{- end -}}
{{- end -}}

{{/* Annotations that bind a ServiceAccount to a managed identity. Takes root and clientId. */}}
{{- define "tocsin.workloadIdentityAnnotations" -}}
{{- if .clientId -}}
azure.workload.identity/client-id: {{ .clientId | quote }}
{{- with .root.Values.workloadIdentity.tenantId }}
azure.workload.identity/tenant-id: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
<registry>/<repository>:<tag> of a service context, or <registry>/<repository>@<digest> when the
service's image.digest is set: a digest names one exact build, which a tag (moved, re-pushed)
does not, so it wins.
*/}}
{{- define "tocsin.image" -}}
{{- $image := (index .root.Values .key).image -}}
{{- $name := $image.repository -}}
{{- if .root.Values.image.registry -}}
{{- $name = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $image.repository -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $name $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name ($image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
The API version of the ServiceMonitors and the PrometheusRule (monitoring.api), or "" when the
cluster has neither CRD: a fresh AKS without the Prometheus Operator would otherwise refuse the
whole install over objects it cannot store. auto asks the cluster (.Capabilities; `helm template`
knows only what --api-versions tells it).
*/}}
{{- define "tocsin.monitoringApi" -}}
{{- $api := .Values.monitoring.api -}}
{{- if eq $api "prometheusOperator" -}}
monitoring.coreos.com/v1
{{- else if eq $api "azureManagedPrometheus" -}}
azmonitoring.coreos.com/v1
{{- else if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}
monitoring.coreos.com/v1
{{- else if .Capabilities.APIVersions.Has "azmonitoring.coreos.com/v1" -}}
azmonitoring.coreos.com/v1
{{- end -}}
{{- end -}}

{{/* The Secret holding the credentials: the existing one, or the one the chart creates. */}}
{{- define "tocsin.secretName" -}}
{{- default (printf "%s-credentials" (include "tocsin.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{/*
One env entry read from the credentials Secret. Takes root, name (variable), key, and optional:
true when the key may be missing (the variable is then unset).
*/}}
{{/* "true" when tocsin is reachable from outside at ingress.host: an Ingress or HTTPRoutes. */}}
{{- define "tocsin.public" -}}
{{- if or .Values.ingress.enabled .Values.httpRoute.enabled -}}
true
{{- end -}}
{{- end -}}

{{/*
The dashboard's address: `explicit` when given, else https://<ingress.host> when the ingress or the
routes are on (http:// when the Ingress serves without ingress.tls, or only the routes are on and
httpRoute.https is false), else nothing. The notifier links to incidents with it; query builds its
sign-in redirect URI from it.
*/}}
{{- define "tocsin.publicUrl" -}}
{{- $values := .root.Values -}}
{{- if .explicit -}}
{{- .explicit -}}
{{- else if and (include "tocsin.public" .root) $values.ingress.host -}}
{{- $https := ternary $values.ingress.tls.enabled $values.httpRoute.https $values.ingress.enabled -}}
{{- printf "http%s://%s" (ternary "s" "" $https) $values.ingress.host -}}
{{- end -}}
{{- end -}}

{{- define "tocsin.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "tocsin.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/*
The tokens file (secret.tokensFile) of ingest and query: TOKENS_FILE, and the Secret mounted as a
directory (not subPath), read-only, readable through the pod's fsGroup only. Each renders nothing
without a tokens file.
*/}}
{{- define "tocsin.tokensFile.path" -}}
/etc/tocsin/tokens/tokens.yaml
{{- end -}}

{{- define "tocsin.tokensFile.env" -}}
{{- if .Values.secret.tokensFile.secretName }}
- name: TOKENS_FILE
  value: {{ include "tocsin.tokensFile.path" . | quote }}
{{- end }}
{{- end -}}

{{- define "tocsin.tokensFile.volumes" -}}
{{- with .Values.secret.tokensFile }}
{{- if .secretName }}
- name: tokens
  secret:
    secretName: {{ .secretName }}
    # 0440: readable by the service through the pod's fsGroup, by nobody else.
    defaultMode: 288
    items:
      - key: {{ .key }}
        path: {{ base (include "tocsin.tokensFile.path" $) }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tocsin.tokensFile.volumeMounts" -}}
{{- if .Values.secret.tokensFile.secretName }}
- name: tokens
  mountPath: {{ dir (include "tocsin.tokensFile.path" .) }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* DATABASE_URL of a service: query may use its own read-only key. */}}
{{- define "tocsin.databaseUrlEnv" -}}
{{- $keys := .root.Values.secret.keys -}}
{{- $key := $keys.databaseUrl -}}
{{- if and (eq .key "query") $keys.queryDatabaseUrl -}}
{{- $key = $keys.queryDatabaseUrl -}}
{{- end -}}
{{- include "tocsin.secretEnv" (dict "root" .root "name" "DATABASE_URL" "key" $key) -}}
{{- end -}}

{{/*
Environment every service gets: listen address, logging, stream prefix, Redis, HTTP workers,
OpenTelemetry. The service's own variables follow (tocsin.<key>.env), then extraEnv, which is for
variables the chart does not set (a duplicate name would make later upgrades' patches ambiguous).
*/}}
{{- define "tocsin.commonEnv" -}}
{{- $v := index .root.Values .key -}}
{{- $config := .root.Values.config -}}
# Probes, metrics and the API on one port, on every interface of the pod.
- name: LISTEN_ADDR
  value: "0.0.0.0:8080"
- name: RUST_LOG
  value: {{ $config.rustLog | quote }}
- name: LOG_FORMAT
  value: {{ $config.logFormat | quote }}
- name: STREAM_PREFIX
  value: {{ $config.streamPrefix | quote }}
{{ include "tocsin.secretEnv" (dict "root" .root "name" "REDIS_URL" "key" .root.Values.secret.keys.redisUrl) }}
{{- if not (kindIs "invalid" $v.httpWorkers) }}
- name: HTTP_WORKERS
  value: {{ $v.httpWorkers | int64 | quote }}
{{- end }}
{{- with .root.Values.otel }}
{{- if .endpoint }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "tocsin-%s" (include "tocsin.component" $) | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .endpoint | quote }}
{{- end }}
{{- if .protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .protocol | quote }}
{{- end }}
{{- if .resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ .resourceAttributes | quote }}
{{- end }}
{{- if .tracesSampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .tracesSampler | quote }}
{{- end }}
{{- if .tracesSamplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .tracesSamplerArg | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
CONSUMER_NAME from the pod name: unique among the running replicas, and stable across a restart
of the container, so a restarted consumer reclaims its own pending entries after
VISIBILITY_TIMEOUT like any other replica would.
*/}}
{{- define "tocsin.consumerNameEnv" -}}
- name: CONSUMER_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/*
Pod security context: non-root uid 10001 (the images' user), RuntimeDefault seccomp. fsGroup
makes mounted Secrets (notifier.secretFiles) group-readable by the service, so they need not be
world-readable.
*/}}
{{- define "tocsin.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context: the services write nothing to disk and need no capability. */}}
{{- define "tocsin.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Egress to the cluster DNS (UDP and TCP: large answers fall back to TCP). */}}
{{- define "tocsin.egressDns" -}}
- to:
    {{- toYaml .Values.networkPolicy.dns.to | nindent 4 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{/* Egress to a backing service. Takes the networkPolicy.postgres or .redis block ({cidrs, ports}). */}}
{{- define "tocsin.egressBackend" -}}
- ports:
    {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- with .cidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
{{- end -}}

{{/* Egress to NetworkPolicyPeers on TCP ports. Takes {to, ports}; an empty `to` is any address. */}}
{{- define "tocsin.egressTo" -}}
- ports:
    {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
Trial mode's own credentials (postgresPassword, redisPassword, ingestToken, apiToken), as YAML:
read back from the <fullname>-trial Secret when it exists, so an upgrade or a reinstall keeps them
(the database on its volume knows only its first password); else random. Kept in .Values for the
rest of the render, so every template of one install sees the same ones.
*/}}
{{- define "tocsin.trial.credentials" -}}
{{- if not (hasKey .Values.trial "generatedCredentials") -}}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace (printf "%s-trial" (include "tocsin.fullname" .))).data | default dict -}}
{{- $credentials := dict -}}
{{- range $key := list "postgresPassword" "redisPassword" "ingestToken" "apiToken" -}}
{{- $_ := set $credentials $key (index $existing $key | default "" | b64dec | default (randAlphaNum 32)) -}}
{{- end -}}
{{- $_ := set .Values.trial "generatedCredentials" $credentials -}}
{{- end -}}
{{- toYaml .Values.trial.generatedCredentials -}}
{{- end -}}

{{/*
The values of the Secret the chart creates (secret.create), as YAML; in trial mode the database
and Redis URLs point at the release's own PostgreSQL and Redis, and the tokens left empty are
trial's generated ones.
*/}}
{{- define "tocsin.createdCredentials" -}}
{{- $create := deepCopy .Values.secret.create -}}
{{- if .Values.trial.enabled -}}
{{- $trial := include "tocsin.trial.credentials" . | fromYaml -}}
{{- $fullname := include "tocsin.fullname" . -}}
{{- $_ := set $create "databaseUrl" (printf "postgres://tocsin:%s@%s-postgres:5432/tocsin?sslmode=disable" $trial.postgresPassword $fullname) -}}
{{- $_ = set $create "redisUrl" (printf "redis://:%s@%s-redis:6379/0" $trial.redisPassword $fullname) -}}
{{- $_ = set $create "ingestToken" ($create.ingestToken | default $trial.ingestToken) -}}
{{- $_ = set $create "apiToken" ($create.apiToken | default $trial.apiToken) -}}
{{- end -}}
{{- toYaml $create -}}
{{- end -}}

{{/*
When the migration runs (its Job, and the ServiceAccount, NetworkPolicy and Secret copy it needs):
before the install or upgrade, so new code never meets an old schema; in trial mode after the
install, because the database is an object of the same release and exists only once the install
has created it (the Job's init container then waits for it to answer). Upgrades are still
migrated before.
*/}}
{{- define "tocsin.migrations.hook" -}}
{{- ternary "post-install,pre-upgrade" "pre-install,pre-upgrade" .Values.trial.enabled -}}
{{- end -}}

{{/* Fails the render with a clear message when the credentials configuration is inconsistent. */}}
{{- define "tocsin.validateSecret" -}}
{{- $s := .Values.secret -}}
{{- if .Values.trial.enabled -}}
{{- if $s.existingSecret -}}
{{- fail (printf "trial.enabled: the chart makes the credentials for its own PostgreSQL and Redis, but secret.existingSecret is %q: set it to \"\" (examples/trial.yaml does)" $s.existingSecret) -}}
{{- end -}}
{{- range $k := list "databaseUrl" "redisUrl" "queryDatabaseUrl" "redisPassword" -}}
{{- if index $s.create $k -}}
{{- fail (printf "trial.enabled: secret.create.%s must stay empty, the trial's own PostgreSQL and Redis are used" $k) -}}
{{- end -}}
{{- end -}}
{{- if or $s.keys.queryDatabaseUrl $s.keys.redisPassword -}}
{{- fail "trial.enabled: secret.keys.queryDatabaseUrl and secret.keys.redisPassword must stay empty in trial mode" -}}
{{- end -}}
{{- else if $s.existingSecret -}}
{{- range $k, $val := $s.create -}}
{{- if $val -}}
{{- fail (printf "secret.create.%s is set but secret.existingSecret is %q: put the value in that Secret, or set secret.existingSecret to \"\" so the chart creates the Secret" $k $s.existingSecret) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- range $k := list "databaseUrl" "redisUrl" "ingestToken" "apiToken" -}}
{{- if not (index $s.create $k) -}}
{{- fail (printf "secret.create.%s is required when secret.existingSecret is empty (the chart creates the Secret)" $k) -}}
{{- end -}}
{{- end -}}
{{- if and $s.keys.queryDatabaseUrl (not $s.create.queryDatabaseUrl) -}}
{{- fail "secret.keys.queryDatabaseUrl is set: secret.create.queryDatabaseUrl is required too" -}}
{{- end -}}
{{- if and $s.keys.redisPassword (not $s.create.redisPassword) -}}
{{- fail "secret.keys.redisPassword is set: secret.create.redisPassword is required too" -}}
{{- end -}}
{{- end -}}
{{- end -}}
