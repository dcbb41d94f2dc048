// ES module entry of comfy-rs: the same objects as the CommonJS entry (index.js).
import comfy from './index.js'

export const {
  ComfyClient,
  Job,
  Workflow,
  Catalog,
  uiToApi,
  apiToUi,
  serveMcp,
  ComfyError,
  ValidationError,
  WorkflowError,
  TemplateError,
  BackendError,
  PromptRejectedError,
  NotFoundError,
  TooManyJobsError,
  ComfyTimeoutError,
  InvalidArgumentError,
  JobFailedError,
} = comfy

export default comfy
