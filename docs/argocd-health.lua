-- Argo CD health check for every agent-machine kind (agentmachine.sourceos.dev/*).
-- Install it in argocd-cm under the wildcard key (see docs/operations.md):
--
--   resource.customizations: |
--     agentmachine.sourceos.dev/*:
--       health.lua: |
--         <this file>
--
-- Healthy      Ready=True at the current generation (profile/binding usable, grant Active,
--              execution or container Succeeded, bundle exported), or an end the user asked
--              for: a revoked grant, an execution or container cancelled by spec.cancel.
-- Degraded     a final or failing phase: Invalid, Denied, Failed, Expired, Unreachable, or
--              Cancelled for any other reason (deadline, profile deleted).
-- Progressing  no status yet, a status older than the spec (observedGeneration), or on its
--              way (Pending, Queued, Running, Retrying, Creating, Exporting).
-- Only base Lua is used (no string library): Argo CD disables the standard libraries by default.
local hs = {}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the agent-machine controller"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "The controller has not observed generation " .. generation .. " yet"
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end

-- ToolGrantRecord says status.state; every other kind status.phase.
local phase = obj.status.phase
if phase == nil then
  phase = obj.status.state
end
if phase == nil then
  phase = ""
end

local reason = ""
local message = ""
if ready ~= nil then
  if ready.reason ~= nil then
    reason = ready.reason
  end
  if ready.message ~= nil then
    message = ready.message
  end
end
local summary = phase
if reason ~= "" then
  summary = summary .. " (" .. reason .. ")"
end
if message ~= "" then
  summary = summary .. ": " .. message
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = summary
  return hs
end

if phase == "Revoked" or (phase == "Cancelled" and reason == "Cancelled") then
  hs.status = "Healthy"
  hs.message = summary
  return hs
end

local degraded = {
  Invalid = true,
  Denied = true,
  Failed = true,
  Expired = true,
  Unreachable = true,
  Cancelled = true,
}
if degraded[phase] then
  hs.status = "Degraded"
  hs.message = summary
  return hs
end

hs.status = "Progressing"
hs.message = summary
return hs
