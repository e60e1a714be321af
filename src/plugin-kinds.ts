/**
 * The vocabulary the config and the lockfile share: plugin kinds and plugin names. It sits below
 * both (the lockfile must not reach up into the config to know what a kind is).
 */
export const PLUGIN_KINDS = ['c', 'cpp', 'go-c-shared', 'go-plugin'] as const;

/** Kinds whose sources are compiled by gcc/g++ (the others by the Go toolchain). */
export const isCFamily = (kind: string): boolean => kind === 'c' || kind === 'cpp';
export type PluginKind = (typeof PLUGIN_KINDS)[number];

// Plugin names become file names (lib<name>.so) and lockfile keys: keep them boring.
export const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
