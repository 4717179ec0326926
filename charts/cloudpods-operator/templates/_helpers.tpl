{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "cloudpods-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudpods-operator.fullname" -}}
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

{{/* Cluster-scoped objects carry the release namespace: two releases of one name must not collide. */}}
{{- define "cloudpods-operator.clusterName" -}}
{{- printf "%s-%s" (include "cloudpods-operator.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudpods-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudpods-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudpods-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cloudpods-operator.labels" -}}
helm.sh/chart: {{ include "cloudpods-operator.chart" . }}
{{ include "cloudpods-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: cloudpods
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cloudpods-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cloudpods-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cloudpods-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* 1, or 2 with leader election, unless set; more than one active operator is refused. */}}
{{- define "cloudpods-operator.replicas" -}}
{{- $default := ternary 2 1 .Values.leaderElection.enabled -}}
{{- $replicas := int (ternary $default .Values.replicas (kindIs "invalid" .Values.replicas)) -}}
{{- if and (gt $replicas 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicas=%d needs leaderElection.enabled=true: two operators without a Lease would both write every object" $replicas) -}}
{{- end -}}
{{- $replicas -}}
{{- end -}}

{{- define "cloudpods-operator.validate" -}}
{{- $le := .Values.leaderElection -}}
{{- if and $le.enabled (not (and (gt (float64 $le.leaseDuration) (float64 $le.renewDeadline)) (gt (float64 $le.renewDeadline) (float64 $le.retryPeriod)))) -}}
{{- fail "leaderElection needs leaseDuration > renewDeadline > retryPeriod" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "serviceMonitor.enabled needs metrics.enabled" -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) -}}
{{- fail "metrics.port and health.port must differ" -}}
{{- end -}}
{{- end -}}

{{/*
The operator's permissions, written from the code (src/cloudpods_operator/kube.py is the only module
that sends requests; it lists+watches, server-side applies (PATCH; on a missing object that is a
create, so both verbs), POSTs Secrets and Events, and DELETEs what it prunes).
*/}}
{{- define "cloudpods-operator.rules" -}}
# OnecloudClusters are read (list+watch); only their status is written (server-side apply = PATCH).
- apiGroups: ["onecloud.yunion.io"]
  resources: ["onecloudclusters"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["onecloud.yunion.io"]
  resources: ["onecloudclusters/status"]
  verbs: ["patch"]
# Owned objects carry an ownerReference with blockOwnerDeletion; where the API server runs the
# OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters) that needs
# update on the owner's finalizers. The API server serves no such subresource for a custom
# resource: the rule allows no request, it only satisfies that check.
- apiGroups: ["onecloud.yunion.io"]
  resources: ["onecloudclusters/finalizers"]
  verbs: ["update"]
# Workloads, Services, ServiceAccounts, Ingresses: applied, and pruned when a component goes away.
- apiGroups: ["apps"]
  resources: ["deployments", "daemonsets", "statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# PVCs are applied but never deleted (data is kept when a component is disabled).
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch"]
# ConfigMaps: a service config that moved into a Secret (the Go operator's, or an older version's) is
# deleted once nothing mounts it; nothing else is.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Secrets: the service configs are applied; certificates and passwords are created once and only
# completed with missing keys; none is deleted.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Pods: watched (our own, by label) for why they cannot run; deleted only the Go operator's bare etcd
# members, once the etcd StatefulSet replaced them.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
