/**
 * @build-image/parser: Dockerfile text in, plain data out. Pure: no file system, network, clock or env.
 */
export * from './errors.js';
export * from './syntax/index.js';
export * from './shell/index.js';
export * from './instructions/index.js';
export * from './graph/index.js';
export { goQuote, goQuoteList } from './syntax/gotext.js';
