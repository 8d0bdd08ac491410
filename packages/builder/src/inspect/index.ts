export { inspectImage, InspectError, type ImageInspection, type InspectedHistory, type InspectedLayer, type InspectOptions } from './inspect.js';
export { formatInspection } from './format.js';
