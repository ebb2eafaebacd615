/* ai_prompt: chat-completions messages for suggestions, built from one user's projection.
 *
 * The system message fixes the task and the JSON reply schema. The user message carries
 * the user's analytics and recent tasks as a JSON data block and the user's own words
 * between AI_PROMPT_OPEN and AI_PROMPT_CLOSE; any run of three or more '<' or '>' in the
 * user's words is shortened, so the words cannot close the block. Only tasks created by or
 * assigned to user_id are included, whatever the set holds. Pure: any thread. */
#ifndef AI_PROMPT_H
#define AI_PROMPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "task_set.h"

#define AI_PROMPT_OPEN        "<<<USER_CONTEXT>>>"
#define AI_PROMPT_CLOSE       "<<<END_USER_CONTEXT>>>"
#define AI_PROMPT_MAX_OPEN    40
#define AI_PROMPT_MAX_DONE    20
#define AI_PROMPT_TITLE_CHARS 200

/* New messages array [{role:"system",...},{role:"user",...}] (caller owns).
 * analytics: borrowed JSON (e.g. part of ai_insights), may be NULL. context may be NULL.
 * limit: how many suggestions to ask for. */
json_t *ai_prompt_messages(const char *user_id, const ai_task_set_t *set, const json_t *analytics,
                           const char *context, size_t limit, int64_t now_ms);
/* SHA-256 hex of the compact JSON of messages (the prompt's provenance). */
void ai_prompt_hash(const json_t *messages, char out[65]);
/* Copy of s with runs of 3+ '<' or '>' cut to two (caller frees). */
char *ai_prompt_defuse(const char *s);

#endif
