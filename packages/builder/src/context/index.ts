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
export { loadContext, contextFromEntries, type BuildContext, type LoadContextOptions } from './build-context.js';
export { selectSources, type SelectOptions, type Selection, type SelectedEntry, type SourceMatch, type SourceSelection } from './select.js';
export { StatCache } from './stat-cache.js';
export { hashEntry, hashSelection, hashFileContent, effectiveMode, type HashOptions, type FileHash, type SelectionHash } from './hash.js';
