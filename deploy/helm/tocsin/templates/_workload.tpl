{{/*
Every Kubernetes object of one service, from its block in values.yaml. Each service's template
(ingest.yaml, incident-core.yaml, query.yaml, notifier.yaml) calls "tocsin.workload" with:

  root            the root context ($)
  key             the service's values key: ingest, incidentCore, query, notifier
  args            container arguments (list; may be empty)
  public          true when it is called through the ingress (ingest, query; the notifier
                  when it receives Slack's clicks)
  postgres        true when it connects to PostgreSQL (incident-core, query, notifier)
  stream          for KEDA: the stream and consumer group it consumes ({name, group}; may be empty)
  egress          optional: more egress rules for its NetworkPolicy (list of {to, ports})
  volumes         optional: the pod's volumes (YAML list, as text)
  volumeMounts    optional: the container's mounts of them (YAML list, as text)
  podAnnotations  optional: annotations the chart adds to the pod (dict), e.g. checksums

and defines its own environment in "tocsin.<key>.env" (taking the root context).
*/}}
{{- define "tocsin.workload" -}}
{{- $v := index .root.Values .key -}}
{{- include "tocsin.serviceAccount" . }}
---
{{ include "tocsin.service" . }}
---
{{ include "tocsin.deployment" . }}
{{- if and $v.autoscaling.keda $v.autoscaling.keda.enabled }}
{{ include "tocsin.scaledObject" . }}
{{- else if $v.autoscaling.enabled }}
---
{{ include "tocsin.hpa" . }}
{{- end }}
{{- if $v.podDisruptionBudget.enabled }}
---
{{ include "tocsin.pdb" . }}
{{- end }}
{{- if and .root.Values.serviceMonitor.enabled (include "tocsin.monitoringApi" .root) }}
---
{{ include "tocsin.serviceMonitor" . }}
{{- end }}
{{- if .root.Values.networkPolicy.enabled }}
---
{{ include "tocsin.networkPolicy" . }}
{{- end }}
{{- end -}}

{{- define "tocsin.serviceAccount" -}}
{{- $sa := (index .root.Values .key).serviceAccount -}}
{{- if $sa.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "tocsin.serviceAccountName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
  {{- $annotations := merge (include "tocsin.workloadIdentityAnnotations" (dict "root" .root "clientId" (include "tocsin.workloadIdentityClientId" .)) | fromYaml) $sa.annotations }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The services never call the Kubernetes API; the Workload Identity webhook mounts its own token.
automountServiceAccountToken: false
{{- end }}
{{- end -}}

{{- define "tocsin.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "tocsin.componentName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "tocsin.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 8080
      targetPort: http
      protocol: TCP
{{- end -}}

{{- define "tocsin.deployment" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .key -}}
{{- $component := include "tocsin.component" . -}}
{{- $keda := and $v.autoscaling.keda $v.autoscaling.keda.enabled -}}
{{- $clientId := include "tocsin.workloadIdentityClientId" . -}}
{{- $liveness := merge (dict) (default dict ($v.probes).liveness) (dict "periodSeconds" 10 "timeoutSeconds" 2 "failureThreshold" 3 "initialDelaySeconds" 0) -}}
{{- $readiness := merge (dict) (default dict ($v.probes).readiness) (dict "periodSeconds" 5 "timeoutSeconds" 3 "failureThreshold" 2 "initialDelaySeconds" 0) -}}
{{- $env := include "tocsin.containerEnv" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tocsin.componentName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  {{- /* Under an HPA (or KEDA) the autoscaler owns the replica count: setting it here would
         reset it on every upgrade. */}}
  {{- if not (or $v.autoscaling.enabled $keda) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "tocsin.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # Start the new pod before stopping an old one: capacity never drops during a rollout.
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "tocsin.componentLabels" . | nindent 8 }}
        {{- if $clientId }}
        azure.workload.identity/use: "true"
        {{- end }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- /* Roll the pods when what they read at start changes: the credentials here, the
             service's own files through its template's podAnnotations (which win over the
             values' podAnnotations, so a checksum cannot be overridden by accident). */}}
      {{- $annotations := merge (deepCopy (default dict .podAnnotations)) $v.podAnnotations }}
      {{- if not $root.Values.secret.existingSecret }}
      {{- $_ := set $annotations "checksum/credentials" (include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum) }}
      {{- end }}
      {{- with $annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "tocsin.serviceAccountName" . }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- include "tocsin.podSecurityContext" . | nindent 8 }}
      # The services drain in at most 30 s after SIGTERM (HTTP grace), after the preStop pause;
      # 10 s more before SIGKILL.
      terminationGracePeriodSeconds: {{ add 40 $v.preStopSleepSeconds }}
      {{- if $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml $v.topologySpreadConstraints | nindent 8 }}
      {{- else if $root.Values.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range $topologyKey, $spread := dict "topology.kubernetes.io/zone" $root.Values.topologySpread.zone "kubernetes.io/hostname" $root.Values.topologySpread.node }}
        - topologyKey: {{ $topologyKey }}
          maxSkew: {{ $spread.maxSkew }}
          whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "tocsin.selectorLabels" $ | nindent 14 }}
          # Count only the pods of the current ReplicaSet, so a rollout spreads the new pods.
          matchLabelKeys: ["pod-template-hash"]
        {{- end }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "tocsin.image" . | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [{{ printf "/usr/local/bin/tocsin-%s" $component | quote }}]
          {{- with .args }}
          args: {{ toJson . }}
          {{- end }}
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          env:
            {{- $env | nindent 12 }}
          # Liveness does not depend on PostgreSQL or Redis: an outage must not restart the pods.
          livenessProbe:
            httpGet:
              path: /health
              port: http
            {{- toYaml $liveness | nindent 12 }}
          # Readiness reports the dependencies (a 2 s check inside the service).
          readinessProbe:
            httpGet:
              path: /ready
              port: http
            {{- toYaml $readiness | nindent 12 }}
          {{- if gt (int $v.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $v.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "tocsin.containerSecurityContext" . | nindent 12 }}
          {{- with .volumeMounts }}
          volumeMounts:
            {{- . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/*
The container's environment: the shared variables, the service's own (tocsin.<key>.env), then
extraEnv. A name set twice fails the render: Kubernetes would keep the last one, and later
upgrades' patches of the list would be ambiguous.
*/}}
{{- define "tocsin.containerEnv" -}}
{{- $v := index .root.Values .key -}}
{{- $env := include "tocsin.commonEnv" . -}}
{{- $env = printf "%s\n%s" $env (include (printf "tocsin.%s.env" .key) .root) -}}
{{- with $v.extraEnv -}}
{{- $env = printf "%s\n%s" $env (toYaml .) -}}
{{- end -}}
{{- $seen := dict -}}
{{- range fromYamlArray $env -}}
{{- if hasKey $seen .name -}}
{{- $where := ternary "notifier.secretEnv or notifier.extraEnv" (printf "%s.extraEnv" $.key) (eq $.key "notifier") -}}
{{- fail (printf "%s: the environment variable %s is set twice, by the chart from its values or in %s: keep one" (include "tocsin.component" $) .name $where) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- $env -}}
{{- end -}}

{{- define "tocsin.hpa" -}}
{{- $v := index .root.Values .key -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "tocsin.componentName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "tocsin.componentName" . }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}

{{/*
KEDA ScaledObject on the consumer group's pending entries (the work handed out and not yet
acknowledged), plus CPU. KEDA creates and owns the HPA. The TriggerAuthentication hands KEDA the
Redis password from the credentials Secret.
*/}}
{{- define "tocsin.scaledObject" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .key -}}
{{- $name := include "tocsin.componentName" . -}}
{{- $address := required "keda.redisAddress (host:port) is required when a service enables autoscaling.keda" $root.Values.keda.redisAddress -}}
{{- $passwordKey := $root.Values.secret.keys.redisPassword -}}
{{- if $passwordKey }}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ $name }}-redis
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  secretTargetRef:
    - parameter: password
      name: {{ include "tocsin.secretName" $root }}
      key: {{ $passwordKey }}
{{- end }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $name }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ $name }}
  minReplicaCount: {{ $v.autoscaling.minReplicas }}
  maxReplicaCount: {{ $v.autoscaling.maxReplicas }}
  pollingInterval: {{ $root.Values.keda.pollingInterval }}
  cooldownPeriod: {{ $root.Values.keda.cooldownPeriod }}
  triggers:
    - type: redis-streams
      metadata:
        address: {{ $address | quote }}
        stream: {{ printf "%s:%s" $root.Values.config.streamPrefix .stream.name | quote }}
        consumerGroup: {{ .stream.group | quote }}
        pendingEntriesCount: {{ $v.autoscaling.keda.pendingEntriesCount | quote }}
        enableTLS: {{ $root.Values.keda.enableTLS | quote }}
      {{- if $passwordKey }}
      authenticationRef:
        name: {{ $name }}-redis
      {{- end }}
    - type: cpu
      metricType: Utilization
      metadata:
        value: {{ $v.autoscaling.targetCPUUtilizationPercentage | quote }}
{{- end -}}

{{- define "tocsin.pdb" -}}
{{- $pdb := (index .root.Values .key).podDisruptionBudget -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tocsin.componentName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $pdb.minAvailable) }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- end }}
  # Pods that are not ready (e.g. waiting out a database outage) can always be evicted, so a
  # node drain is never blocked by a budget the outage already spent.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "tocsin.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "tocsin.serviceMonitor" -}}
{{- $sm := .root.Values.serviceMonitor -}}
apiVersion: {{ include "tocsin.monitoringApi" .root }}
kind: ServiceMonitor
metadata:
  name: {{ include "tocsin.componentName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "tocsin.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end -}}

{{/*
Ingress, all on port 8080 (API, probes and /metrics share it); the services never call one
another, so nothing else needs in:
  public (ingest, query, the notifier with Slack interactivity)
                             the ingress controller: networkPolicy.ingressFrom, or the pods of
                             its namespace (tocsin.ingressNamespace);
  every service              Prometheus: networkPolicy.metricsFrom, or the pods of
                             networkPolicy.metricsNamespace; no rule when both are empty.
No rule ever admits every source. Kubelet probes are not subject to NetworkPolicies.
Egress: DNS, Redis, PostgreSQL only for the services that use it, the service's own rules (the
notifier's HTTPS and SMTP), and extraEgress.
*/}}
{{- define "tocsin.networkPolicy" -}}
{{- $np := .root.Values.networkPolicy -}}
{{- $metrics := include "tocsin.metricsPeers" .root -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "tocsin.componentName" . }}
  labels:
    {{- include "tocsin.componentLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "tocsin.selectorLabels" . | nindent 6 }}
  policyTypes: ["Ingress", "Egress"]
  {{- if or .public $metrics }}
  ingress:
    {{- if .public }}
    - ports:
        - protocol: TCP
          port: http
      from:
        {{- include "tocsin.ingressPeers" .root | nindent 8 }}
    {{- end }}
    {{- if $metrics }}
    - ports:
        - protocol: TCP
          port: http
      from:
        {{- $metrics | nindent 8 }}
    {{- end }}
  {{- else }}
  ingress: []
  {{- end }}
  egress:
    {{- include "tocsin.egressDns" .root | nindent 4 }}
    {{- include "tocsin.egressBackend" $np.redis | nindent 4 }}
    {{- if .postgres }}
    {{- include "tocsin.egressBackend" $np.postgres | nindent 4 }}
    {{- end }}
    {{- range .egress }}
    {{- include "tocsin.egressTo" . | nindent 4 }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}


{{/*
The ingress controller's namespace: networkPolicy.ingressNamespace, or the one its class implies
(ingress-nginx's own chart, the AKS application routing add-on). Any other class, and any Gateway
(httpRoute), has to be named: guessing wrong would cut the traffic off, and admitting everyone is
what the policy is there to stop.
*/}}
{{- define "tocsin.ingressNamespace" -}}
{{- $np := .Values.networkPolicy -}}
{{- $class := .Values.ingress.className -}}
{{- if $np.ingressNamespace -}}
{{- $np.ingressNamespace -}}
{{- else if .Values.httpRoute.enabled -}}
{{- fail "networkPolicy.ingressNamespace: name the namespace of the Gateway's data plane (the pods that forward the HTTPRoutes' traffic), or list its sources in networkPolicy.ingressFrom (Application Gateway for Containers: its subnet, as an ipBlock; with an Ingress as well, both controllers)" -}}
{{- else if eq $class "nginx" -}}
ingress-nginx
{{- else if eq $class "webapprouting.kubernetes.azure.com" -}}
app-routing-system
{{- else -}}
{{- fail (printf "networkPolicy.ingressNamespace: name the namespace your ingress controller runs in (the chart knows it only for ingress.className nginx and webapprouting.kubernetes.azure.com, not %q), or list the controller's pods in networkPolicy.ingressFrom" $class) -}}
{{- end -}}
{{- end -}}

{{/* Who reaches the public services (NetworkPolicyPeer list, YAML). */}}
{{- define "tocsin.ingressPeers" -}}
{{- with .Values.networkPolicy.ingressFrom -}}
{{- toYaml . -}}
{{- else -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ include "tocsin.ingressNamespace" . }}
{{- end -}}
{{- end -}}

{{/* Who scrapes /metrics (NetworkPolicyPeer list, YAML); empty when nobody does. */}}
{{- define "tocsin.metricsPeers" -}}
{{- $np := .Values.networkPolicy -}}
{{- if $np.metricsFrom -}}
{{- toYaml $np.metricsFrom -}}
{{- else if $np.metricsNamespace -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $np.metricsNamespace }}
{{- end -}}
{{- end -}}
