/*
 * couchplay testcore: a deliberately tiny libretro core for the frontend's
 * tests. It emulates nothing; it draws quadrants for pressed A buttons, plays
 * square waves, keeps a boot counter in save RAM, and can crash, hang or
 * abort on request. See README.md for the game file format and the exact
 * pixel, SRAM and save-state layouts.
 *
 * Build:
 *   gcc -shared -fPIC -O1 -Wall -I/usr/include/libretro-common \
 *       -o testcore_libretro.so testcore.c
 */
#include <libretro.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>

#define TC_PORTS 4
#define TC_BASE_W 160
#define TC_BASE_H 144
#define TC_BIG_W 240
#define TC_BIG_H 160
#define TC_MAX_W 320
#define TC_MAX_H 288
#define TC_FPS 59.7275
#define TC_RATE 32040.5
#define TC_SRAM_SIZE 2048
#define TC_STATE_HEADER 16
#define TC_STATE_SIZE (TC_STATE_HEADER + TC_SRAM_SIZE)
#define TC_STATE_VERSION 1
#define TC_AMPLITUDE 4000
#define TC_MAX_AUDIO_FRAMES 2048

enum tc_mode { MODE_NORMAL, MODE_CRASH, MODE_HANG, MODE_ABORT, MODE_BADLOAD, MODE_STICKS, MODE_NOSTICKS, MODE_NOISE,
	MODE_SHRINK, MODE_LOGFLOOD };
static const char *const mode_names[] = { "normal", "crash", "hang", "abort", "badload", "sticks", "nosticks", "noise",
	"shrink", "logflood" };

/* Frontend callbacks. */
static retro_environment_t env_cb;
static retro_video_refresh_t video_cb;
static retro_audio_sample_t audio_cb;
static retro_audio_sample_batch_t audio_batch_cb;
static retro_input_poll_t input_poll_cb;
static retro_input_state_t input_state_cb;
static retro_log_printf_t log_cb;

/* Game settings, from the content file. */
static enum tc_mode mode;
static unsigned trigger_frame;
static enum retro_pixel_format pixfmt;
static char bios_name[256];
static unsigned resize_frame;
static int resize_enabled;
static int dupe_wanted;

/* Runtime state. */
static int game_loaded;
static int can_dupe;
static int use_bitmasks;
static int colour_red;
static int first_run;
static int resized;
static uint32_t frame_count;
static unsigned cur_w = TC_BASE_W, cur_h = TC_BASE_H;
static unsigned port_device[TC_PORTS] = {
	RETRO_DEVICE_JOYPAD, RETRO_DEVICE_JOYPAD, RETRO_DEVICE_JOYPAD, RETRO_DEVICE_JOYPAD
};
static uint8_t sram[TC_SRAM_SIZE];
static uint8_t framebuf[TC_MAX_W * TC_MAX_H * 4];
static int16_t audiobuf[TC_MAX_AUDIO_FRAMES * 2];

static void tc_log(enum retro_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_cb)
		log_cb(level, "%s\n", msg);
	else
		fprintf(stderr, "%s\n", msg);
}

static int env(unsigned cmd, void *data)
{
	return env_cb && env_cb(cmd, data);
}

/* ---- content parsing ------------------------------------------------- */

static int word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static unsigned parse_uint(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;
	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	return (unsigned)v;
}

static void parse_line(const char *s, size_t n)
{
	const char *key, *val;
	size_t klen, vlen;

	while (n && is_space(*s))
		s++, n--;
	while (n && is_space(s[n - 1]))
		n--;
	key = s;
	for (klen = 0; klen < n && !is_space(key[klen]); klen++)
		;
	val = key + klen;
	vlen = n - klen;
	while (vlen && is_space(*val))
		val++, vlen--;
	if (klen == 0)
		return;

	if (word_is(key, klen, "mode")) {
		int i;
		for (i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
			if (word_is(val, vlen, mode_names[i]))
				mode = (enum tc_mode)i;
	} else if (word_is(key, klen, "at")) {
		trigger_frame = parse_uint(val, vlen);
	} else if (word_is(key, klen, "format")) {
		if (word_is(val, vlen, "xrgb8888"))
			pixfmt = RETRO_PIXEL_FORMAT_XRGB8888;
		else if (word_is(val, vlen, "rgb565"))
			pixfmt = RETRO_PIXEL_FORMAT_RGB565;
		else if (word_is(val, vlen, "0rgb1555"))
			pixfmt = RETRO_PIXEL_FORMAT_0RGB1555;
	} else if (word_is(key, klen, "bios")) {
		if (vlen >= sizeof bios_name)
			vlen = sizeof bios_name - 1;
		memcpy(bios_name, val, vlen);
		bios_name[vlen] = '\0';
	} else if (word_is(key, klen, "resize")) {
		resize_frame = parse_uint(val, vlen);
		resize_enabled = 1;
	} else if (word_is(key, klen, "dupe")) {
		dupe_wanted = word_is(val, vlen, "1");
	}
	/* anything else: ignored */
}

static void parse_content(const char *data, size_t size)
{
	size_t start = 0, i;
	for (i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n' || data[i] == '\0') {
			parse_line(data + start, i - start);
			start = i + 1;
			if (i < size && data[i] == '\0')
				break;
		}
	}
}

/* ---- options ---------------------------------------------------------- */

static void read_options(void)
{
	struct retro_variable var = { "testcore_colour", NULL };
	colour_red = 0;
	if (env(RETRO_ENVIRONMENT_GET_VARIABLE, &var) && var.value)
		colour_red = strcmp(var.value, "red") == 0;
}

/* ---- libretro API ----------------------------------------------------- */

RETRO_API unsigned retro_api_version(void)
{
	return RETRO_API_VERSION;
}

RETRO_API void retro_set_environment(retro_environment_t cb)
{
	static const struct retro_variable vars[] = {
		{ "testcore_colour", "Quadrant colour; white|red" },
		{ NULL, NULL },
	};
	bool no_game = false;

	env_cb = cb;
	env(RETRO_ENVIRONMENT_SET_SUPPORT_NO_GAME, &no_game);
	env(RETRO_ENVIRONMENT_SET_VARIABLES, (void *)vars);
}

RETRO_API void retro_set_video_refresh(retro_video_refresh_t cb) { video_cb = cb; }
RETRO_API void retro_set_audio_sample(retro_audio_sample_t cb) { audio_cb = cb; }
RETRO_API void retro_set_audio_sample_batch(retro_audio_sample_batch_t cb) { audio_batch_cb = cb; }
RETRO_API void retro_set_input_poll(retro_input_poll_t cb) { input_poll_cb = cb; }
RETRO_API void retro_set_input_state(retro_input_state_t cb) { input_state_cb = cb; }

RETRO_API void retro_init(void)
{
	struct retro_log_callback logging;
	log_cb = NULL;
	if (env(RETRO_ENVIRONMENT_GET_LOG_INTERFACE, &logging))
		log_cb = logging.log;
}

RETRO_API void retro_deinit(void)
{
	game_loaded = 0;
	log_cb = NULL;
}

RETRO_API void retro_get_system_info(struct retro_system_info *info)
{
	memset(info, 0, sizeof *info);
	info->library_name = "couchplay testcore";
	info->library_version = "1";
	info->valid_extensions = "tst|tstz";
	info->need_fullpath = false;
	info->block_extract = false;
}

RETRO_API void retro_get_system_av_info(struct retro_system_av_info *info)
{
	memset(info, 0, sizeof *info);
	info->geometry.base_width = cur_w;
	info->geometry.base_height = cur_h;
	info->geometry.max_width = TC_MAX_W;
	info->geometry.max_height = TC_MAX_H;
	info->geometry.aspect_ratio = 0.0f;
	info->timing.fps = TC_FPS;
	info->timing.sample_rate = TC_RATE;
}

RETRO_API void retro_set_controller_port_device(unsigned port, unsigned device)
{
	if (port < TC_PORTS)
		port_device[port] = device;
}

RETRO_API void retro_reset(void)
{
	frame_count = 0;
}

static uint16_t read_pad(unsigned port)
{
	uint16_t bits = 0;
	unsigned id;
	if (!input_state_cb || port_device[port] == RETRO_DEVICE_NONE)
		return 0;
	if (use_bitmasks)
		return (uint16_t)input_state_cb(port, RETRO_DEVICE_JOYPAD, 0, RETRO_DEVICE_ID_JOYPAD_MASK);
	for (id = 0; id <= RETRO_DEVICE_ID_JOYPAD_R3; id++)
		if (input_state_cb(port, RETRO_DEVICE_JOYPAD, 0, id))
			bits |= (uint16_t)(1u << id);
	return bits;
}

static unsigned bytes_per_pixel(void)
{
	return pixfmt == RETRO_PIXEL_FORMAT_XRGB8888 ? 4 : 2;
}

static uint32_t lit_colour(void)
{
	switch (pixfmt) {
	case RETRO_PIXEL_FORMAT_XRGB8888:
		return colour_red ? 0x00FF0000u : 0x00FFFFFFu;
	case RETRO_PIXEL_FORMAT_RGB565:
		return colour_red ? 0xF800u : 0xFFFFu;
	default: /* 0RGB1555 */
		return colour_red ? 0x7C00u : 0x7FFFu;
	}
}

static void draw(const int lit[TC_PORTS])
{
	const unsigned bpp = bytes_per_pixel();
	const size_t pitch = (size_t)TC_MAX_W * bpp;
	const uint32_t c = lit_colour();
	const unsigned hw = cur_w / 2, hh = cur_h / 2;
	unsigned x, y;

	memset(framebuf, 0, sizeof framebuf);
	for (y = 0; y < cur_h; y++) {
		uint8_t *row = framebuf + (size_t)y * pitch;
		for (x = 0; x < cur_w; x++) {
			int q = (y >= hh ? 2 : 0) + (x >= hw ? 1 : 0); /* 0..3 */
			if (!lit[q])
				continue;
			if (bpp == 4)
				((uint32_t *)row)[x] = c;
			else
				((uint16_t *)row)[x] = (uint16_t)c;
		}
	}
}

/*
 * Mode noise: new faint grey noise every frame in the top quarter of a black
 * picture: what an encoder cannot compress, so it fills whatever rate it is
 * given (the congestion-control e2e needs a stream that fills a link), yet
 * small enough that a low rate can still carry it.
 */
static uint32_t pack_rgb(unsigned r, unsigned g, unsigned b);

static void draw_noise(void)
{
	static uint32_t seed = 2463534242u;
	const unsigned bpp = bytes_per_pixel();
	const size_t pitch = (size_t)TC_MAX_W * bpp;
	unsigned x, y;

	memset(framebuf, 0, sizeof framebuf);
	for (y = 0; y < cur_h / 4; y++) {
		uint8_t *row = framebuf + (size_t)y * pitch;
		for (x = 0; x < cur_w; x++) {
			unsigned v;
			seed ^= seed << 13; /* xorshift32 */
			seed ^= seed >> 17;
			seed ^= seed << 5;
			v = 112 + (seed & 31); /* faint: a low rate can still carry it */
			if (bpp == 4)
				((uint32_t *)row)[x] = pack_rgb(v, v, v);
			else
				((uint16_t *)row)[x] = (uint16_t)pack_rgb(v, v, v);
		}
	}
}

/* An 8-bit-per-channel colour in the current pixel format. */
static uint32_t pack_rgb(unsigned r, unsigned g, unsigned b)
{
	switch (pixfmt) {
	case RETRO_PIXEL_FORMAT_XRGB8888:
		return r << 16 | g << 8 | b;
	case RETRO_PIXEL_FORMAT_RGB565:
		return (r >> 3) << 11 | (g >> 2) << 5 | b >> 3;
	default: /* 0RGB1555 */
		return (r >> 3) << 10 | (g >> 3) << 5 | b >> 3;
	}
}

/* A stick axis (-32768..32767) as a channel value 0..255. */
static unsigned axis_channel(int16_t v)
{
	return (unsigned)((int32_t)v + 32768) >> 8;
}

/*
 * Modes sticks/nosticks: the left half shows port 0's left stick (red = X,
 * green = Y), the right half its right stick; blue is 255 everywhere while
 * port 0 holds d-pad Right. nosticks never asks for a stick (both read as
 * centred), as a core for a pad without sticks would.
 */
static void draw_sticks(int read_sticks)
{
	const unsigned bpp = bytes_per_pixel();
	const size_t pitch = (size_t)TC_MAX_W * bpp;
	const unsigned blue = (read_pad(0) >> RETRO_DEVICE_ID_JOYPAD_RIGHT) & 1 ? 255 : 0;
	int16_t axis[4] = { 0, 0, 0, 0 }; /* left X, left Y, right X, right Y */
	uint32_t c[2];
	unsigned x, y, i;

	if (read_sticks && input_state_cb && port_device[0] != RETRO_DEVICE_NONE)
		for (i = 0; i < 4; i++)
			axis[i] = input_state_cb(0, RETRO_DEVICE_ANALOG, i / 2, i % 2);
	c[0] = pack_rgb(axis_channel(axis[0]), axis_channel(axis[1]), blue);
	c[1] = pack_rgb(axis_channel(axis[2]), axis_channel(axis[3]), blue);
	memset(framebuf, 0, sizeof framebuf);
	for (y = 0; y < cur_h; y++) {
		uint8_t *row = framebuf + (size_t)y * pitch;
		for (x = 0; x < cur_w; x++) {
			uint32_t v = c[x >= cur_w / 2];
			if (bpp == 4)
				((uint32_t *)row)[x] = v;
			else
				((uint16_t *)row)[x] = (uint16_t)v;
		}
	}
}

static size_t sample_index(uint32_t frame)
{
	/* round half up; no libm, so the .so loads into hosts that lack it */
	return (size_t)(TC_RATE * (double)frame / TC_FPS + 0.5);
}

static void play(const int lit[TC_PORTS])
{
	static const double freq[TC_PORTS] = { 440.0, 660.0, 880.0, 1100.0 };
	size_t first = sample_index(frame_count);
	size_t n = sample_index(frame_count + 1) - first, i;
	int p;

	if (n > TC_MAX_AUDIO_FRAMES)
		n = TC_MAX_AUDIO_FRAMES;
	for (i = 0; i < n; i++) {
		double t = (double)(first + i);
		int v = 0;
		for (p = 0; p < TC_PORTS; p++) {
			if (!lit[p])
				continue;
			/* two half periods per cycle: even half high, odd half low */
			v += ((uint64_t)(t * 2.0 * freq[p] / TC_RATE) & 1) ? -TC_AMPLITUDE : TC_AMPLITUDE;
		}
		audiobuf[2 * i] = (int16_t)v;
		audiobuf[2 * i + 1] = (int16_t)v;
	}
	if (audio_batch_cb)
		audio_batch_cb(audiobuf, n);
}

/*
 * Mode shrink: what a hostile or broken core could do to the frontend's
 * shared frame memory: find every memfd this process holds (the frontend's
 * frame buffer is one) and truncate it to 0 bytes, after the frame it drew.
 * A host that reads a mapping of it then faults with SIGBUS. The result is
 * logged at WARN either way; the game goes on as in mode normal.
 */
static void shrink_memfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = 0;

	if (!d) {
		tc_log(RETRO_LOG_WARN, "testcore: cannot list /proc/self/fd: %s", strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char link[64], target[256];
		ssize_t n;
		int fd;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/memfd:", 7) != 0)
			continue;
		found++;
		if (ftruncate(fd, 0) == 0)
			tc_log(RETRO_LOG_WARN, "testcore: shrank %s (fd %d) to 0 bytes", target, fd);
		else
			tc_log(RETRO_LOG_WARN, "testcore: could not shrink %s (fd %d): %s", target, fd, strerror(errno));
	}
	closedir(d);
	if (!found)
		tc_log(RETRO_LOG_WARN, "testcore: found no memfd to shrink");
}

/* Mode logflood: this many ERROR lines every frame from frame `at` on. */
#define TC_FLOOD_LINES 2000

RETRO_API void retro_run(void)
{
	int lit[TC_PORTS];
	bool updated = false;
	unsigned p;

	if (input_poll_cb)
		input_poll_cb();
	for (p = 0; p < TC_PORTS; p++)
		lit[p] = (read_pad(p) >> RETRO_DEVICE_ID_JOYPAD_A) & 1;

	if (env(RETRO_ENVIRONMENT_GET_VARIABLE_UPDATE, &updated) && updated)
		read_options();

	if (first_run) {
		first_run = 0;
		if (memcmp(sram, "TSTC", 4) != 0) {
			memcpy(sram, "TSTC", 4);
			sram[4] = 0;
		}
		sram[4]++;
	}

	if (frame_count == trigger_frame) {
		switch (mode) {
		case MODE_CRASH: {
			int *volatile nowhere = NULL;
			*nowhere = 1; /* SIGSEGV */
			break;
		}
		case MODE_HANG: {
			volatile unsigned long spins = 0;
			for (;;)
				spins++;
		}
		case MODE_ABORT:
			abort();
		default:
			break;
		}
	}

	if (resize_enabled && !resized && frame_count == resize_frame) {
		struct retro_game_geometry g = { TC_BIG_W, TC_BIG_H, TC_MAX_W, TC_MAX_H, 0.0f };
		env(RETRO_ENVIRONMENT_SET_GEOMETRY, &g);
		cur_w = TC_BIG_W;
		cur_h = TC_BIG_H;
		resized = 1;
	}

	if (video_cb) {
		if (dupe_wanted && can_dupe && (frame_count & 1)) {
			video_cb(NULL, cur_w, cur_h, (size_t)TC_MAX_W * bytes_per_pixel());
		} else {
			if (mode == MODE_STICKS || mode == MODE_NOSTICKS)
				draw_sticks(mode == MODE_STICKS);
			else if (mode == MODE_NOISE)
				draw_noise();
			else
				draw(lit);
			video_cb(framebuf, cur_w, cur_h, (size_t)TC_MAX_W * bytes_per_pixel());
		}
	}
	play(lit);
	if (mode == MODE_SHRINK && frame_count == trigger_frame)
		shrink_memfds();
	if (mode == MODE_LOGFLOOD && frame_count >= trigger_frame) {
		unsigned i;
		for (i = 0; i < TC_FLOOD_LINES; i++)
			tc_log(RETRO_LOG_ERROR, "testcore: flood line %u of frame %u", i, (unsigned)frame_count);
	}
	frame_count++;
}

RETRO_API size_t retro_serialize_size(void)
{
	return TC_STATE_SIZE;
}

/*
 * State layout (TC_STATE_SIZE = 2064 bytes):
 *   0..3   "TSTS"
 *   4      version (1)
 *   5..7   zero
 *   8..11  frame counter, uint32 little endian
 *   12..15 zero
 *   16..   the 2048 bytes of save RAM
 */
RETRO_API bool retro_serialize(void *data, size_t size)
{
	uint8_t *d = data;
	if (size < TC_STATE_SIZE)
		return false;
	memset(d, 0, TC_STATE_HEADER);
	memcpy(d, "TSTS", 4);
	d[4] = TC_STATE_VERSION;
	d[8] = (uint8_t)frame_count;
	d[9] = (uint8_t)(frame_count >> 8);
	d[10] = (uint8_t)(frame_count >> 16);
	d[11] = (uint8_t)(frame_count >> 24);
	memcpy(d + TC_STATE_HEADER, sram, TC_SRAM_SIZE);
	return true;
}

RETRO_API bool retro_unserialize(const void *data, size_t size)
{
	const uint8_t *d = data;
	if (size != TC_STATE_SIZE || !d || memcmp(d, "TSTS", 4) != 0 || d[4] != TC_STATE_VERSION)
		return false;
	frame_count = (uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24;
	memcpy(sram, d + TC_STATE_HEADER, TC_SRAM_SIZE);
	return true;
}

RETRO_API void retro_cheat_reset(void) {}

RETRO_API void retro_cheat_set(unsigned index, bool enabled, const char *code)
{
	(void)index;
	(void)enabled;
	(void)code;
}

static void reset_game_settings(void)
{
	mode = MODE_NORMAL;
	trigger_frame = 30;
	pixfmt = RETRO_PIXEL_FORMAT_RGB565;
	bios_name[0] = '\0';
	resize_frame = 0;
	resize_enabled = 0;
	dupe_wanted = 0;
}

RETRO_API bool retro_load_game(const struct retro_game_info *game)
{
	static const struct retro_input_descriptor desc[] = {
		{ 0, RETRO_DEVICE_JOYPAD, 0, RETRO_DEVICE_ID_JOYPAD_A, "A" },
		{ 1, RETRO_DEVICE_JOYPAD, 0, RETRO_DEVICE_ID_JOYPAD_A, "A" },
		{ 2, RETRO_DEVICE_JOYPAD, 0, RETRO_DEVICE_ID_JOYPAD_A, "A" },
		{ 3, RETRO_DEVICE_JOYPAD, 0, RETRO_DEVICE_ID_JOYPAD_A, "A" },
		{ 0, 0, 0, 0, NULL },
	};
	bool flag;

	game_loaded = 0;
	reset_game_settings();
	if (!log_cb) {
		struct retro_log_callback logging;
		if (env(RETRO_ENVIRONMENT_GET_LOG_INTERFACE, &logging))
			log_cb = logging.log;
	}
	if (!game || (!game->data && game->size)) {
		tc_log(RETRO_LOG_ERROR, "testcore: no game data");
		return false;
	}
	parse_content(game->data, game->data ? game->size : 0);
	tc_log(RETRO_LOG_INFO, "testcore: loaded %zu bytes, mode %s", game->size, mode_names[mode]);

	if (mode == MODE_BADLOAD) {
		tc_log(RETRO_LOG_ERROR, "testcore: refusing this game");
		return false;
	}

	if (bios_name[0]) {
		const char *sysdir = NULL;
		char path[4096];
		struct stat st;
		if (!env(RETRO_ENVIRONMENT_GET_SYSTEM_DIRECTORY, &sysdir) || !sysdir) {
			tc_log(RETRO_LOG_ERROR, "testcore: missing BIOS %s (no system directory)", bios_name);
			return false;
		}
		snprintf(path, sizeof path, "%s/%s", sysdir, bios_name);
		if (stat(path, &st) != 0) {
			tc_log(RETRO_LOG_ERROR, "testcore: missing BIOS %s", path);
			return false;
		}
	}

	if (pixfmt != RETRO_PIXEL_FORMAT_0RGB1555) {
		enum retro_pixel_format f = pixfmt;
		if (!env(RETRO_ENVIRONMENT_SET_PIXEL_FORMAT, &f)) {
			tc_log(RETRO_LOG_ERROR, "testcore: pixel format %d refused", (int)f);
			return false;
		}
	}

	env(RETRO_ENVIRONMENT_SET_INPUT_DESCRIPTORS, (void *)desc);

	flag = false;
	can_dupe = env(RETRO_ENVIRONMENT_GET_CAN_DUPE, &flag) && flag;
	/* Like most cores, only the return value counts; data may be written. */
	flag = false;
	use_bitmasks = env(RETRO_ENVIRONMENT_GET_INPUT_BITMASKS, &flag);

	read_options();

	memset(sram, 0, sizeof sram);
	frame_count = 0;
	first_run = 1;
	resized = 0;
	cur_w = TC_BASE_W;
	cur_h = TC_BASE_H;
	game_loaded = 1;
	return true;
}

RETRO_API bool retro_load_game_special(unsigned game_type, const struct retro_game_info *info, size_t num_info)
{
	(void)game_type;
	(void)info;
	(void)num_info;
	return false;
}

RETRO_API void retro_unload_game(void)
{
	game_loaded = 0;
	first_run = 0;
}

RETRO_API unsigned retro_get_region(void)
{
	return RETRO_REGION_NTSC;
}

RETRO_API void *retro_get_memory_data(unsigned id)
{
	return id == RETRO_MEMORY_SAVE_RAM ? sram : NULL;
}

RETRO_API size_t retro_get_memory_size(unsigned id)
{
	return id == RETRO_MEMORY_SAVE_RAM ? TC_SRAM_SIZE : 0;
}
