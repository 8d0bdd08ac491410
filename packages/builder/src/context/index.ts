/**
 * The build-context loader: `.dockerignore`, the context walk, COPY/ADD source selection and
 * incremental content hashing.
 */
export { DockerignoreError, ContextEscapeError, SourceNotFoundError } from './errors.js';
export { goMatch, goClean, BadPatternError } from './gopath.js';
export { Pattern, PatternMatcher, type MatchInfo } from './patternmatcher.js';
export { readIgnoreFile, loadIgnorePatterns, type IgnorePatterns } from './ignorefile.js';
export type { ContextEntry, EntryType } from './entry.js';
export { walkContext, type WalkOptions } from './walk.js';
