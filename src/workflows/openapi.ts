import { EXECUTION_STATUSES } from '../store/store.ts';
import type { WorkflowDefinition } from './definition.ts';
import { variablesJsonSchema } from './variables.ts';

/**
 * An OpenAPI 3.1 document for one workflow's own endpoints, generated from its definition, so an
 * integrator can generate a typed client for exactly this workflow.
 */
const envelope = (data: Record<string, unknown>) => ({
  type: 'object',
  required: ['success', 'traceId'],
  properties: { success: { const: true }, traceId: { type: 'string' }, data },
});
const errorEnvelope = {
  type: 'object',
  required: ['success', 'errCode', 'errMsg', 'traceId'],
  properties: { success: { const: false }, errCode: { type: 'string' }, errMsg: { type: 'string' }, traceId: { type: 'string' }, data: {} },
};
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: 'Error (see errCode)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });

export function workflowOpenApi(def: WorkflowDefinition, canvasId: string, baseUrl: string, webhookId?: string): Record<string, unknown> {
  const { $schema: _drop, ...variables } = variablesJsonSchema(def);
  const runBody = {
    type: 'object',
    properties: { variables: { $ref: '#/components/schemas/Variables' } },
    additionalProperties: false,
  };
  const accepted = envelope({
    type: 'object',
    required: ['executionId', 'status'],
    properties: {
      executionId: { type: 'string', pattern: '^we-' },
      status: { enum: [...EXECUTION_STATUSES] },
      output: { type: 'array', items: { type: 'object' }, description: 'present with ?wait when the run ended' },
    },
  });
  const executionParam = { name: 'executionId', in: 'path', required: true, schema: { type: 'string' } };
  const paths: Record<string, unknown> = {
    [`/v1/openapi/workflow/${canvasId}/run`]: {
      post: {
        operationId: 'run',
        summary: `Run "${def.title}"`,
        description: def.description,
        security: [{ bearer: [] }],
        parameters: [
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'Same key within 24 h returns the original execution' },
          { name: 'wait', in: 'query', required: false, schema: { type: 'number', minimum: 0, maximum: 60 }, description: 'Seconds to wait for the result' },
        ],
        requestBody: { required: false, ...json(runBody) },
        responses: { '200': { description: 'Accepted (committed)', ...json(accepted) }, ...errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
      },
    },
    '/v1/openapi/workflow/{executionId}/status': {
      get: { operationId: 'status', security: [{ bearer: [] }], parameters: [executionParam], responses: { '200': { description: 'Status', ...json(envelope({ type: 'object' })) }, ...errors(401, 403, 404) } },
    },
    '/v1/openapi/workflow/{executionId}/output': {
      get: { operationId: 'output', security: [{ bearer: [] }], parameters: [executionParam], responses: { '200': { description: 'Output', ...json(envelope({ type: 'object' })) }, ...errors(401, 403, 404) } },
    },
    '/v1/openapi/workflow/{executionId}/abort': {
      post: { operationId: 'abort', security: [{ bearer: [] }], parameters: [executionParam], responses: { '200': { description: 'Aborted (idempotent)', ...json(envelope({ type: 'object' })) }, ...errors(401, 403, 404) } },
    },
  };
  if (webhookId) {
    paths[`/v1/openapi/webhook/${webhookId}/run`] = {
      post: {
        operationId: 'webhookRun',
        summary: `Trigger "${def.title}" by webhook (no API key)`,
        requestBody: { required: false, ...json(runBody) },
        responses: { '200': { description: 'Received and committed', ...json(accepted) }, ...errors(400, 401, 403, 404, 413, 415, 429, 503) },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: def.title, description: def.description, version: 'current' },
    servers: [{ url: baseUrl }],
    paths,
    components: {
      schemas: { Variables: variables, Error: errorEnvelope },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}
