-- Argo CD health of a ModelDeployment (mlops.dev/v1alpha1), read from the status that
-- model-rollout-operator writes. Install it as the argocd-cm key
-- resource.customizations.health.mlops.dev_ModelDeployment (see argocd-cm-patch.yaml).
--
--   Progressing  not observed yet, status of an older generation, or a rollout under way
--                (also at a pause step or a blue/green preview waiting for promote)
--   Suspended    a rollout held: spec.paused or the pause action
--   Degraded     Stalled=True: rolled back, aborted or invalid; the message says why
--   Healthy      Ready=True for the current generation: one version serves all traffic
--
-- Written for Argo CD's sandbox: gopher-lua (Lua 5.1) with only the base, table, package and
-- os (safe subset) libraries; no string, math or io, so no useOpenLibs is needed.
local hs = {}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function isTrue(condition)
  return condition ~= nil and condition.status == "True"
end

-- "Reason: message", or whichever of the two the condition has.
local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local reason = condition.reason
  local message = condition.message
  if reason ~= nil and reason ~= "" and message ~= nil and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= nil and message ~= "" then
    return message
  end
  if reason ~= nil and reason ~= "" then
    return reason
  end
  return fallback
end

-- The CRD defaults status.observedGeneration to 0, so a ModelDeployment that the operator
-- has not written yet reads as generation 0 observed (older servers: no status at all).
local status = obj.status
if status == nil or status.observedGeneration == nil or status.observedGeneration == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the ModelDeployment"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  -- Concatenation, not string.format: Argo CD runs scripts from argocd-cm with the string
  -- library closed (only base, table, package and a safe os are opened).
  hs.message = "Waiting for the operator to observe generation "
    .. tostring(generation)
    .. " (status is of generation "
    .. tostring(status.observedGeneration)
    .. ")"
  return hs
end

local ready = findCondition(status.conditions, "Ready")
local reconciling = findCondition(status.conditions, "Reconciling")
local stalled = findCondition(status.conditions, "Stalled")

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "The rollout stalled")
  return hs
end

if status.phase == "Paused" or (isTrue(reconciling) and reconciling.reason == "Paused") then
  hs.status = "Suspended"
  if reconciling ~= nil and reconciling.message ~= nil and reconciling.message ~= "" then
    hs.message = reconciling.message
  elseif status.message ~= nil and status.message ~= "" then
    hs.message = status.message
  else
    hs.message = "The rollout is paused"
  end
  return hs
end

if isTrue(ready) then
  hs.status = "Healthy"
  if ready.message ~= nil and ready.message ~= "" then
    hs.message = ready.message
  elseif status.stableVersion ~= nil then
    hs.message = "Version " .. status.stableVersion .. " serves all traffic"
  else
    hs.message = "Ready"
  end
  return hs
end

hs.status = "Progressing"
if isTrue(reconciling) then
  hs.message = describe(reconciling, "Rollout in progress")
else
  hs.message = describe(ready, "Waiting for the ModelDeployment to become Ready")
end
return hs
