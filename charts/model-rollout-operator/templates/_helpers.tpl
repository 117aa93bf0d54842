{{/* Chart name, overridable. */}}
{{- define "mro.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the release's objects: the release name when it already contains the chart
name (helm install model-rollout-operator ...), else RELEASE-CHART.
*/}}
{{- define "mro.fullname" -}}
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

{{- define "mro.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the operator pods; never change them across upgrades. */}}
{{- define "mro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mro.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mro.labels" -}}
helm.sh/chart: {{ include "mro.chart" . }}
{{ include "mro.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: model-rollout-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mro.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mro.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mro.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Settings that the schema cannot express on its own. */}}
{{- define "mro.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: several operators would reconcile the same ModelDeployments at once. Enable leader election or set replicaCount to 1." (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.sharding.shard .Values.sharding.defaultInstance -}}
{{- fail (printf "sharding.shard is %q and sharding.defaultInstance is true: a release is either one shard or the default instance. Install the default instance as a release of its own." .Values.sharding.shard) -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) -}}
{{- fail (printf "metrics.port and health.port are both %d; they must differ." (int .Values.metrics.port)) -}}
{{- end -}}
{{- end -}}

{{/*
What the operator needs in the namespaces it watches. Shared by the ClusterRole (all
namespaces) and the Role (watchNamespace).
*/}}
{{- define "mro.operatorRules" -}}
# Exactly what the operator uses; the chart tests run the operator under these rules.
# Informers list and watch; the action annotation is removed with a patch.
- apiGroups: ["mlops.dev"]
  resources: ["modeldeployments"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["mlops.dev"]
  resources: ["modeldeployments/status"]
  verbs: ["update"]
# Children carry an ownerReference with blockOwnerDeletion; clusters with the
# OwnerReferencesPermissionEnforcement admission plugin (OpenShift) require this.
- apiGroups: ["mlops.dev"]
  resources: ["modeldeployments/finalizers"]
  verbs: ["update"]
# Server-side apply updates with patch; creating an object that way also needs create.
# get: the Deployment a ModelDeployment adopts (spec.workloadRef), read by name, not watched.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# spec.workloadRef: the adopted Deployment's replica count, through its scale subresource,
# so that nothing else of it can be written.
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["patch"]
# get: whether a Service named like an adopting ModelDeployment already exists and is someone else's.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["list", "watch"]
# An agreement check's request set: the one ConfigMap it names, read with get in the
# ModelDeployment's namespace when it is measured. No list or watch: no ConfigMap cache.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
# spec.strategy.canary.readinessGate: the pods that carry the gate mlops.dev/admitted
# (watched by label), and their condition set with a patch of pods/status. Nothing else on
# pods: the operator never writes a pod's spec and never deletes one.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods/status"]
  verbs: ["patch"]
# spec.traffic: the HTTPRoute NAME, owned whole (server-side apply), deleted when
# spec.traffic goes; get and update for a route the user owns (httpRouteRef), edited by
# read-modify-write with its resourceVersion. Nothing on Gateways: the route's status says
# what its parents think.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# spec.traffic.gatewayAPI.grpcRoute: the GRPCRoute NAME, owned whole (server-side apply:
# create and patch), watched, deleted when the spec stops naming it. No get or update: the
# operator edits no GRPCRoute of another owner.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["grpcroutes"]
  verbs: ["list", "watch", "create", "patch", "delete"]
{{- if .Values.rbac.inferencePools }}
# spec.traffic.gatewayAPI.inferencePool: the InferencePool NAME-V of each version, owned whole
# (server-side apply: patch, and create for a new one), watched by label, deleted when its
# version retires. No get or update: nothing of another owner is edited.
- apiGroups: ["inference.networking.k8s.io"]
  resources: ["inferencepools"]
  verbs: ["list", "watch", "create", "patch", "delete"]
{{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
