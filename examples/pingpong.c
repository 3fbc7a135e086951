/*
 * pingpong.c - two threads take strict turns printing "Ping!" and "Pong!"
 * (Pike's Condition example), handing the turn over with two auto reset
 * events: each thread waits for its own event, speaks, then sets the
 * other's. A set releases exactly one waiter, so the turn cannot be lost
 * or doubled.
 *
 * Each speaker also checks, under a scoped lock, that the last word was
 * the other one's; the program exits with status 1 if the alternation
 * ever breaks (or a turn takes more than 5 seconds), 0 otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/weft.h>

#define ROUNDS 10

struct player {
    const char *word;
    weft_event_t *my_turn;
    weft_event_t *their_turn;
    int failed;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *last_word; /* guarded by mu */
static int words;             /* guarded by mu */

/* Records a word; returns 0, or -1 if the same player spoke twice. */
static int speak(const char *word)
{
    WEFT_SCOPED_LOCK(&mu);
    if (last_word == word)
        return -1;
    last_word = word;
    words++;
    printf("%s\n", word);
    return 0;
}

static void *play(void *arg)
{
    struct player *p = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int r = weft_event_wait(p->my_turn, 5000);
        if (r != 0) {
            fprintf(stderr, "pingpong: %s waited for its turn: %s\n", p->word, weft_strerror(r));
            p->failed = 1;
            return NULL;
        }
        if (speak(p->word) != 0) {
            fprintf(stderr, "pingpong: %s spoke twice in a row\n", p->word);
            p->failed = 1;
        }
        weft_event_set(p->their_turn);
    }
    return NULL;
}

int main(void)
{
    weft_event_t *ping_turn = weft_event_new(false, true); /* Ping starts */
    weft_event_t *pong_turn = weft_event_new(false, false);
    if (!ping_turn || !pong_turn) {
        perror("pingpong: weft_event_new");
        return 1;
    }
    struct player ping = {"Ping!", ping_turn, pong_turn, 0};
    struct player pong = {"Pong!", pong_turn, ping_turn, 0};
    pthread_t threads[2];
    if (pthread_create(&threads[0], NULL, play, &pong) ||
        pthread_create(&threads[1], NULL, play, &ping)) {
        fprintf(stderr, "pingpong: cannot start threads\n");
        return 1;
    }
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    weft_event_free(ping_turn);
    weft_event_free(pong_turn);

    if (ping.failed || pong.failed || words != 2 * ROUNDS) {
        fprintf(stderr, "pingpong: the alternation broke\n");
        return 1;
    }
    return 0;
}
