#include "fixbuf_ref.h"

#include <stdbool.h>
#include <string.h>

static fbInfoElementSpec_t spec[] = {
    {"octetDeltaCount", 8, 0},
    {"packetDeltaCount", 8, 0},
    {"flowStartMilliseconds", 8, 0},
    {"flowEndMilliseconds", 8, 0},
    {"interfaceName", FB_IE_VARLEN, 0},
    {"sourceIPv4Address", 4, 0},
    {"destinationIPv4Address", 4, 0},
    {"ingressInterface", 4, 0},
    {"egressInterface", 4, 0},
    {"ipNextHopIPv4Address", 4, 0},
    {"bgpSourceAsNumber", 4, 0},
    {"bgpDestinationAsNumber", 4, 0},
    {"sourceTransportPort", 2, 0},
    {"destinationTransportPort", 2, 0},
    {"tcpControlBits", 2, 0},
    {"protocolIdentifier", 1, 0},
    {"ipClassOfService", 1, 0},
    {"sourceIPv4PrefixLength", 1, 0},
    {"destinationIPv4PrefixLength", 1, 0},
    {"paddingOctets", 2, 0},
    FB_IESPEC_NULL,
};

int s4f_ref_init(struct s4f_ref *r)
{
    GError *err = NULL;
    memset(r, 0, sizeof(*r));
    r->model = fbInfoModelAlloc();
    r->session = fbSessionAlloc(r->model);
    fbTemplate_t *t = fbTemplateAlloc(r->model);
    if (!fbTemplateAppendSpecArray(t, spec, UINT32_MAX, &err))
        goto fail;
    uint16_t tid = fbSessionAddTemplate(r->session, TRUE, FB_TID_AUTO, t, &err);
    if (!tid)
        goto fail;
    r->fbuf = fBufAllocForCollection(r->session, NULL);
    fBufSetAutomaticMode(r->fbuf, FALSE);
    if (!fBufSetInternalTemplate(r->fbuf, tid, &err))
        goto fail;
    return 0;
fail:
    g_clear_error(&err);
    return -1;
}

void s4f_ref_free(struct s4f_ref *r)
{
    if (r->fbuf)
        fBufFree(r->fbuf); /* frees the session too */
    else if (r->session)
        fbSessionFree(r->session);
    if (r->model)
        fbInfoModelFree(r->model);
    memset(r, 0, sizeof(*r));
}

int s4f_ref_decode(struct s4f_ref *r, uint8_t *msg, size_t len,
                   void (*fn)(void *ctx, const struct s4f_ref_rec *rec), void *ctx)
{
    GError *err = NULL;
    struct s4f_ref_rec rec;
    int n = 0;
    fBufSetBuffer(r->fbuf, msg, len);
    for (;;) {
        size_t sz = sizeof(rec);
        if (!fBufNext(r->fbuf, (uint8_t *)&rec, &sz, &err))
            break;
        n++;
        if (fn)
            fn(ctx, &rec);
    }
    bool eom = err && (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM) ||
                       g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ));
    g_clear_error(&err);
    return eom ? n : -1;
}
