import { Type, type Static } from 'typebox';
import type { WorkflowDefinition } from './definition.ts';

/**
 * The JSON Schema that accepts a workflow definition, written with TypeBox so the same
 * object validates input and documents `POST /v1/workflows` in the OpenAPI document. Semantic checks
 * (cycles, references, expressions) live in `validate.ts`.
 */
const Name = (description: string) => Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$', description });
const Text = (maxLength = 100_000) => Type.String({ maxLength });
const AnyJson = Type.Unknown();

const Retry = Type.Object(
  {
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    initialDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    factor: Type.Optional(Type.Number({ minimum: 1, maximum: 10 })),
    maxDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
  },
  { additionalProperties: false },
);

const HttpRequest = Type.Object(
  {
    method: Type.Optional(Type.String({ pattern: '^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|get|post|put|patch|delete|head|options)$' })),
    url: Text(8_192),
    headers: Type.Optional(Type.Record(Type.String(), Text(16_384))),
    query: Type.Optional(Type.Record(Type.String(), Text(16_384))),
    body: Type.Optional(AnyJson),
    bodyFile: Type.Optional(Text(2_000)),
    multipart: Type.Optional(Type.Record(Type.String(), Text(16_384))),
  },
  { additionalProperties: false },
);

const common = {
  id: Name('Unique task id; usable in expressions as tasks.<id>'),
  title: Type.Optional(Text(500)),
  description: Type.Optional(Text(5_000)),
  dependentTasks: Type.Optional(Type.Array(Type.String(), { maxItems: 200, uniqueItems: true })),
  retry: Type.Optional(Retry),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
};
const task = <K extends string, P extends Record<string, any>>(kind: K, props: P) =>
  Type.Object({ ...common, kind: Type.Literal(kind), ...props }, { additionalProperties: false });

export const AgentTaskSchema = task('agent', {
  prompt: Text(),
  systemPrompt: Type.Optional(Text()),
  toolsets: Type.Optional(Type.Array(Type.String(), { maxItems: 50 })),
  model: Type.Optional(Text(200)),
  maxSteps: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
});
export const HttpTaskSchema = task('http', {
  request: HttpRequest,
  expect: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'JSON Schema the response body must match; a violation fails the node with RESPONSE_CONTRACT_VIOLATION' })),
  saveAs: Type.Optional(Type.Literal('file', { description: 'Store the response body as an output file' })),
});
export const TransformTaskSchema = task('transform', { expression: Text() });
export const ConditionTaskSchema = task('condition', { expression: Text() });
export const OutputTaskSchema = task('output', { value: Type.Optional(AnyJson) });

export const TaskSchema = Type.Union([AgentTaskSchema, HttpTaskSchema, TransformTaskSchema, ConditionTaskSchema, OutputTaskSchema]);

export const VariableSchema = Type.Object(
  {
    name: Name('Variable name; usable in expressions as variables.<name>'),
    variableType: Type.Union(['string', 'option', 'resource', 'number', 'boolean', 'json'].map((t) => Type.Literal(t))),
    required: Type.Optional(Type.Boolean()),
    options: Type.Optional(Type.Array(Text(1_000), { maxItems: 500 })),
    default: Type.Optional(AnyJson),
    description: Type.Optional(Text(5_000)),
  },
  { additionalProperties: false },
);

export const ToolSchema = Type.Object(
  {
    name: Name('Tool name the model calls'),
    description: Type.Optional(Text(5_000)),
    parameters: Type.Optional(Type.Object({}, { additionalProperties: true })),
    request: HttpRequest,
  },
  { additionalProperties: false },
);

export const WorkflowDefinitionSchema = Type.Object(
  {
    canvasId: Type.Optional(Type.String({ pattern: '^c-[A-Za-z0-9_-]{1,64}$' })),
    title: Type.String({ minLength: 1, maxLength: 500 }),
    description: Type.Optional(Text(10_000)),
    variables: Type.Optional(Type.Array(VariableSchema, { maxItems: 100 })),
    tasks: Type.Array(TaskSchema, { minItems: 1, maxItems: 200 }),
    tools: Type.Optional(Type.Array(ToolSchema, { maxItems: 50 })),
    retry: Type.Optional(Retry),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400_000 })),
    apiEnabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, title: 'WorkflowDefinition' },
);

export type WorkflowDefinitionInput = Static<typeof WorkflowDefinitionSchema>;
