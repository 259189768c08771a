#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontend.h"
#include "_cgo_export.h"

cp_core cp;

uint8_t *cp_frame;
size_t cp_frame_cap;
unsigned cp_pixel_format = RETRO_PIXEL_FORMAT_0RGB1555; // libretro's default
unsigned cp_frame_w, cp_frame_h;
int cp_frame_new;
int cp_frame_too_big;

int16_t *cp_audio;
size_t cp_audio_len, cp_audio_cap;

uint16_t cp_buttons[4];
unsigned cp_port_device[4];
int16_t cp_analog[4][4];
uint16_t cp_stick_dpad[4];
int cp_reads_analog[4];

const char *cp_open(const char *path) {
	static char msg[1024];
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(msg, sizeof msg, "cannot load: %s", dlerror());
		return msg;
	}
	cp_core c = {.handle = h};
#define SYM(field, name)                                                                    \
	*(void **)(&c.field) = dlsym(h, name);                                                  \
	if (!c.field) {                                                                         \
		snprintf(msg, sizeof msg, "is not a libretro core (it has no %s function)", name); \
		dlclose(h);                                                                         \
		return msg;                                                                         \
	}
	SYM(api_version, "retro_api_version")
	SYM(init, "retro_init")
	SYM(deinit, "retro_deinit")
	SYM(get_system_info, "retro_get_system_info")
	SYM(get_system_av_info, "retro_get_system_av_info")
	SYM(set_environment, "retro_set_environment")
	SYM(set_video_refresh, "retro_set_video_refresh")
	SYM(set_audio_sample, "retro_set_audio_sample")
	SYM(set_audio_sample_batch, "retro_set_audio_sample_batch")
	SYM(set_input_poll, "retro_set_input_poll")
	SYM(set_input_state, "retro_set_input_state")
	SYM(set_controller_port_device, "retro_set_controller_port_device")
	SYM(reset, "retro_reset")
	SYM(run, "retro_run")
	SYM(serialize_size, "retro_serialize_size")
	SYM(serialize, "retro_serialize")
	SYM(unserialize, "retro_unserialize")
	SYM(load_game, "retro_load_game")
	SYM(unload_game, "retro_unload_game")
	SYM(get_memory_data, "retro_get_memory_data")
	SYM(get_memory_size, "retro_get_memory_size")
#undef SYM
	if (c.api_version() != RETRO_API_VERSION) {
		snprintf(msg, sizeof msg, "speaks libretro API %u, not %d", c.api_version(), RETRO_API_VERSION);
		dlclose(h);
		return msg;
	}
	cp = c;
	return NULL;
}

// --- video ---------------------------------------------------------------

static void convert_frame(const void *data, unsigned w, unsigned h, size_t pitch) {
	uint8_t *dst = cp_frame;
	for (unsigned y = 0; y < h; y++) {
		const uint8_t *row = (const uint8_t *)data + (size_t)y * pitch;
		switch (cp_pixel_format) {
		case RETRO_PIXEL_FORMAT_XRGB8888: {
			const uint32_t *src = (const uint32_t *)row;
			for (unsigned x = 0; x < w; x++) {
				uint32_t p = src[x];
				dst[0] = p >> 16;
				dst[1] = p >> 8;
				dst[2] = p;
				dst[3] = 255;
				dst += 4;
			}
			break;
		}
		case RETRO_PIXEL_FORMAT_RGB565: {
			const uint16_t *src = (const uint16_t *)row;
			for (unsigned x = 0; x < w; x++) {
				uint16_t p = src[x];
				unsigned r = (p >> 11) & 31, g = (p >> 5) & 63, b = p & 31;
				dst[0] = (r << 3) | (r >> 2); // replicate high bits so 31 -> 255
				dst[1] = (g << 2) | (g >> 4);
				dst[2] = (b << 3) | (b >> 2);
				dst[3] = 255;
				dst += 4;
			}
			break;
		}
		default: { // 0RGB1555
			const uint16_t *src = (const uint16_t *)row;
			for (unsigned x = 0; x < w; x++) {
				uint16_t p = src[x];
				unsigned r = (p >> 10) & 31, g = (p >> 5) & 31, b = p & 31;
				dst[0] = (r << 3) | (r >> 2);
				dst[1] = (g << 3) | (g >> 2);
				dst[2] = (b << 3) | (b >> 2);
				dst[3] = 255;
				dst += 4;
			}
		}
		}
	}
}

static void video_refresh(const void *data, unsigned w, unsigned h, size_t pitch) {
	if (!data || data == RETRO_HW_FRAME_BUFFER_VALID) {
		return; // a dupe: the last frame stays in cp_frame
	}
	if ((size_t)w * h * 4 > cp_frame_cap) {
		cp_frame_too_big = 1;
		return;
	}
	convert_frame(data, w, h, pitch);
	cp_frame_w = w;
	cp_frame_h = h;
	cp_frame_new = 1;
}

// --- audio ---------------------------------------------------------------

static size_t audio_batch(const int16_t *data, size_t frames) {
	size_t need = cp_audio_len + frames * 2;
	if (need > cp_audio_cap) {
		size_t cap = cp_audio_cap ? cp_audio_cap : 8192;
		while (cap < need) cap *= 2;
		int16_t *grown = realloc(cp_audio, cap * sizeof *cp_audio);
		if (!grown) return 0;
		cp_audio = grown;
		cp_audio_cap = cap;
	}
	memcpy(cp_audio + cp_audio_len, data, frames * 2 * sizeof *data);
	cp_audio_len = need;
	return frames;
}

static void audio_sample(int16_t left, int16_t right) {
	int16_t s[2] = {left, right};
	audio_batch(s, 1);
}

// --- input ---------------------------------------------------------------

static void input_poll(void) {}

static int16_t input_state(unsigned port, unsigned device, unsigned index, unsigned id) {
	if (port >= 4) {
		return 0;
	}
	uint16_t buttons = cp_buttons[port];
	switch (device & RETRO_DEVICE_MASK) {
	case RETRO_DEVICE_JOYPAD:
		if (!cp_reads_analog[port]) {
			buttons |= cp_stick_dpad[port];
		}
		if (id == RETRO_DEVICE_ID_JOYPAD_MASK) {
			return (int16_t)buttons;
		}
		return id < 16 ? (buttons >> id) & 1 : 0;
	case RETRO_DEVICE_ANALOG:
		cp_reads_analog[port] = 1;
		if (index <= RETRO_DEVICE_INDEX_ANALOG_RIGHT && id <= RETRO_DEVICE_ID_ANALOG_Y) {
			return cp_analog[port][index * 2 + id];
		}
		// Analog buttons (triggers): the wire has none, so a held button is a full press.
		if (index == RETRO_DEVICE_INDEX_ANALOG_BUTTON && id < 16) {
			return (buttons >> id) & 1 ? 0x7fff : 0;
		}
		return 0;
	}
	return 0;
}

// --- environment and log -------------------------------------------------

static bool environment(unsigned cmd, void *data) {
	return goEnvironment(cmd, data);
}

// core_log formats the core's printf-style line here: Go cannot take C varargs.
void cp_core_log(enum retro_log_level level, const char *fmt, ...) {
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	goLog((int)level, line);
}

void cp_install(void) {
	cp.set_environment(environment);
	cp.set_video_refresh(video_refresh);
	cp.set_audio_sample(audio_sample);
	cp.set_audio_sample_batch(audio_batch);
	cp.set_input_poll(input_poll);
	cp.set_input_state(input_state);
}

// cp_default_crash_signals gives the crash signals back to the kernel: a core
// that faults then ends the child by that signal, which the host reports
// ("killed by SIGSEGV"), instead of the Go runtime's exit status 2.
void cp_default_crash_signals(void) {
	int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(sigs[i], &sa, NULL);
	}
}
