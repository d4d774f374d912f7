#include <stdlib.h>
#include <tsk/libtsk.h>

/// The image handed to tsk_img_open_external: libtsk requires that the struct
/// begins with TSK_IMG_INFO; `context` carries Swift's reader back into the
/// read callback. Allocated with calloc, freed by the close callback.
typedef struct {
    TSK_IMG_INFO info;
    void *context;
} SendenseTSKImage;

static inline SendenseTSKImage *sendense_tsk_image_alloc(void) {
    return (SendenseTSKImage *)calloc(1, sizeof(SendenseTSKImage));
}
