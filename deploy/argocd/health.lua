-- Argo CD health check for natgw.io/NatGateway (argocd-cm key
-- resource.customizations.health.natgw.io_NatGateway; see argocd-cm-patch.yaml).
--
-- The operator reports kstatus-style conditions: Ready (normal polarity), Reconciling and Stalled
-- (abnormal-true). This maps them to Argo CD's words so a sync waits for resizes, shows a
-- payment waiting for a person as Suspended, and points at the spec or Secret when only a person
-- can help. Written for gopher-lua (Lua 5.1): no goto, no integer division, no string.format %q.
local hs = {}

local function condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

-- The condition's message, or its reason when the message is empty.
local function says(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "the NatGateway is being deleted; the cloud gateway itself is kept"
  return hs
end

local status = obj.status
-- Until the operator has reported on this generation of the spec, anything in status describes
-- an older spec: a sync must not count it as healthy.
if status == nil or status.observedGeneration == nil or obj.metadata == nil
    or status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe the latest spec"
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready ~= nil and ready.reason == "Paused" then
  -- The annotation natgw.io/paused: nothing moves (no cloud call) until someone removes it.
  hs.status = "Suspended"
  hs.message = says(ready)
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  -- Terminal: retrying cannot help, the spec, the Secret or the cloud account must change.
  hs.status = "Degraded"
  hs.message = says(stalled)
  return hs
end

if ready ~= nil and ready.status == "True" then
  -- Also while the operator retries a throttled drift check: Ready keeps its last known value
  -- then, and the gateway is still as declared.
  hs.status = "Healthy"
  hs.message = says(ready)
  return hs
end

local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  if reconciling.reason == "AwaitingPayment" then
    -- Nothing moves until someone pays the order in the cloud's billing center.
    hs.status = "Suspended"
  else
    hs.status = "Progressing"
  end
  hs.message = says(reconciling)
  return hs
end

if ready ~= nil and ready.status == "False" and ready.reason == "DriftDetected" then
  -- managementPolicy: Observe found the gateway differs from the spec and will not order.
  hs.status = "Degraded"
  hs.message = says(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = says(ready)
else
  hs.message = "waiting for the operator to report conditions"
end
return hs
