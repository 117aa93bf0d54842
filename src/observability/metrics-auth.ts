// Who may read /metrics (--metrics-secure), decided as controller-runtime's secure metrics
// serving decides it: the request's bearer token is reviewed by the API server (TokenReview),
// then the user it names is asked about `get` on the non-resource URL /metrics
// (SubjectAccessReview). The answers are cached for a short while, in bounded caches, so a
// Prometheus scraping every few seconds costs the API server a review a minute, and a client
// sending a new token with every request cannot grow the operator's memory. When the API
// server cannot answer, the request is refused with 503: an outage never opens access.
import { createHash } from "node:crypto";
import { BoundedTtlCache } from "./ttl-cache.ts";

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type TokenReviewAnswer = { authenticated: true; user: UserInfo } | { authenticated: false };

export interface AccessReviewer {
  /** TokenReview: is this token valid, and whose is it? Throws when the API server does not answer. */
  reviewToken(token: string): Promise<TokenReviewAnswer>;
  /** SubjectAccessReview of a non-resource URL. Throws when the API server does not answer. */
  reviewAccess(user: UserInfo, verb: string, path: string): Promise<{ allowed: boolean; reason?: string }>;
}

export interface MetricsDecision {
  /** 200: serve; 401: no valid token; 403: not allowed; 503: could not be decided now. */
  status: 200 | 401 | 403 | 503;
  /** Said to the client; names no token. */
  message: string;
  /** The reviewed user, when the token was valid. */
  user?: string;
  /** Why it could not be decided (for the operator's log), on 503. */
  error?: string;
}

export interface MetricsAuthorizerOptions {
  reviewer: AccessReviewer;
  /** Reviews waiting on the API server at once; more requests are answered 503. */
  maxInFlight?: number;
  /** Entries in each cache. */
  cacheEntries?: number;
  now?: () => number;
}

/** The same lifetimes as controller-runtime's filter (and the API server's webhook authenticator). */
export const CACHE_TTL_MS = {
  authenticated: 60_000,
  unauthenticated: 10_000,
  allowed: 300_000,
  denied: 30_000,
};

/** Longer Authorization values are refused without asking the API server. */
export const MAX_TOKEN_LENGTH = 8192;

const DEFAULT_MAX_IN_FLIGHT = 8;
const DEFAULT_CACHE_ENTRIES = 1024;

/** The token of an `Authorization: Bearer TOKEN` header, as the API server reads it; undefined otherwise. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const parts = header.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== "bearer") return undefined;
  const token = parts[1]!;
  return token.length > 0 && token.length <= MAX_TOKEN_LENGTH ? token : undefined;
}

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

export class MetricsAuthorizer {
  private readonly reviewer: AccessReviewer;
  private readonly maxInFlight: number;
  // Keyed by digests, so that no token stays in the operator's memory.
  private readonly tokens: BoundedTtlCache<TokenReviewAnswer>;
  private readonly access: BoundedTtlCache<{ allowed: boolean; reason?: string }>;
  /** Reviews of one token or one question asked once, however many requests wait for it. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private inFlight = 0;

  constructor(options: MetricsAuthorizerOptions) {
    this.reviewer = options.reviewer;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    const entries = options.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
    this.tokens = new BoundedTtlCache(entries, options.now);
    this.access = new BoundedTtlCache(entries, options.now);
  }

  /** Entries held in the token and access caches (bounded by cacheEntries each). */
  get cached(): { tokens: number; access: number } {
    return { tokens: this.tokens.size, access: this.access.size };
  }

  async authorize(authorization: string | undefined, method: string, path: string): Promise<MetricsDecision> {
    const token = bearerToken(authorization);
    if (token === undefined) {
      return {
        status: 401,
        message: "Unauthorized: send a ServiceAccount token as Authorization: Bearer TOKEN",
      };
    }
    const tokenKey = digest(token);
    let review: TokenReviewAnswer;
    try {
      review = await this.cachedReview(this.tokens, `token:${tokenKey}`, tokenKey, async () => {
        const answer = await this.reviewer.reviewToken(token);
        const ttl = answer.authenticated ? CACHE_TTL_MS.authenticated : CACHE_TTL_MS.unauthenticated;
        return { value: answer, ttl };
      });
    } catch (err) {
      return unavailable("the token could not be reviewed", err);
    }
    if (!review.authenticated) return { status: 401, message: "Unauthorized: the token is not valid" };

    const user = review.user;
    // The verb of a non-resource request is its method, lower-cased, as the API server names it.
    const verb = method.toLowerCase();
    const accessKey = digest(JSON.stringify([user.username, user.uid, user.groups, user.extra, verb, path]));
    let decision: { allowed: boolean; reason?: string };
    try {
      decision = await this.cachedReview(this.access, `access:${accessKey}`, accessKey, async () => {
        const answer = await this.reviewer.reviewAccess(user, verb, path);
        return { value: answer, ttl: answer.allowed ? CACHE_TTL_MS.allowed : CACHE_TTL_MS.denied };
      });
    } catch (err) {
      return {
        ...unavailable(`access of user ${user.username} could not be reviewed`, err),
        user: user.username,
      };
    }
    if (!decision.allowed) {
      return {
        status: 403,
        message: `Forbidden: user ${user.username} may not ${verb} ${path}`,
        user: user.username,
      };
    }
    return { status: 200, message: "ok", user: user.username };
  }

  /** The cached answer, or one review (shared by concurrent requests) within the in-flight bound. */
  private async cachedReview<V>(
    cache: BoundedTtlCache<V>,
    pendingKey: string,
    cacheKey: string,
    review: () => Promise<{ value: V; ttl: number }>,
  ): Promise<V> {
    const hit = cache.get(cacheKey);
    if (hit !== undefined) return hit;
    const waiting = this.pending.get(pendingKey) as Promise<V> | undefined;
    if (waiting) return waiting;
    if (this.inFlight >= this.maxInFlight) {
      throw new Error(`${this.maxInFlight} reviews are already waiting for the API server`);
    }
    this.inFlight++;
    const run = (async () => {
      try {
        const { value, ttl } = await review();
        cache.set(cacheKey, value, ttl);
        return value;
      } finally {
        this.inFlight--;
        this.pending.delete(pendingKey);
      }
    })();
    this.pending.set(pendingKey, run);
    return run;
  }
}

function unavailable(what: string, err: unknown): MetricsDecision {
  return {
    status: 503,
    message: `Service Unavailable: ${what}; try again`,
    error: err instanceof Error ? err.message : String(err),
  };
}
