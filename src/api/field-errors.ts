// ajv's schema errors reworded the way the API server words the same rejection (field path,
// "Required value", "Unsupported value", "in body should match", ...), so an offline finding
// and the later `kubectl apply` error read alike and can be searched for the same text.
import { pointerToPath, valueAt, formatFieldPath, type FieldPath } from './field-path.ts';
import type { ValidationIssue } from './validation.ts';

export interface FieldError {
  /** Where the problem is: for a missing field, the object that lacks it. */
  path: FieldPath;
  message: string;
}

export function toFieldError(issue: ValidationIssue, object: unknown): FieldError {
  const at = pointerToPath(issue.path === '/' ? '' : issue.path, object);
  const params = issue.params ?? {};
  const value = valueAt(object, at);
  switch (issue.keyword) {
    case 'required': {
      const field = formatFieldPath([...at, String(params['missingProperty'])]);
      return { path: at, message: `${field}: Required value` };
    }
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      return { path: [...at, key], message: `unknown field "${formatFieldPath([...at, key])}"` };
    }
    case 'enum':
    case 'const': {
      const allowed = (issue.keyword === 'const' ? [params['allowedValue']] : (params['allowedValues'] as unknown[] | undefined)) ?? [];
      return { path: at, message: `${formatFieldPath(at)}: Unsupported value: ${render(value)}: supported values: ${allowed.map(render).join(', ')}` };
    }
    case 'type':
      return { path: at, message: invalid(at, jsonType(value), `must be of type ${String(params['type'])}: "${jsonType(value)}"`) };
    case 'format':
      return { path: at, message: invalid(at, value, `must be of type ${String(params['format'])}: ${render(value)}`) };
    case 'pattern':
      return { path: at, message: invalid(at, value, `should match '${String(params['pattern'])}'`) };
    case 'minimum':
      return { path: at, message: invalid(at, value, `should be greater than or equal to ${String(params['limit'])}`) };
    case 'maximum':
      return { path: at, message: invalid(at, value, `should be less than or equal to ${String(params['limit'])}`) };
    case 'exclusiveMinimum':
      return { path: at, message: invalid(at, value, `should be greater than ${String(params['limit'])}`) };
    case 'exclusiveMaximum':
      return { path: at, message: invalid(at, value, `should be less than ${String(params['limit'])}`) };
    case 'minItems':
      return { path: at, message: invalid(at, Array.isArray(value) ? value.length : value, `should have at least ${String(params['limit'])} items`) };
    case 'maxItems':
      return { path: at, message: `${formatFieldPath(at)}: Too many: ${Array.isArray(value) ? value.length : '?'}: must have at most ${String(params['limit'])} items` };
    case 'minLength':
      return { path: at, message: invalid(at, value, `should be at least ${String(params['limit'])} chars long`) };
    case 'maxLength':
      return { path: at, message: `${formatFieldPath(at)}: Too long: may not be more than ${String(params['limit'])} bytes` };
    default:
      return { path: at, message: `${formatFieldPath(at) || '<root>'}: Invalid value: ${render(value)}: ${issue.message}` };
  }
}

function invalid(at: FieldPath, value: unknown, should: string): string {
  const field = formatFieldPath(at);
  return `${field}: Invalid value: ${render(value)}: ${field} in body ${should}`;
}

function render(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return '<missing>';
  return JSON.stringify(value).slice(0, 120);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
