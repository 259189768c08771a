// The C half of the libretro binding. It runs only in the core's child process
// (one core per process), so its state is global. Video, audio and input
// callbacks stay in C: they run many times a frame, and a Go callback from C
// costs more than the work they do. The environment callback goes to Go.
#ifndef COUCHPLAY_FRONTEND_H
#define COUCHPLAY_FRONTEND_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <libretro.h>

// The core's entry points, found with dlsym.
typedef struct {
	void *handle;
	void (*init)(void);
	void (*deinit)(void);
	unsigned (*api_version)(void);
	void (*get_system_info)(struct retro_system_info *);
	void (*get_system_av_info)(struct retro_system_av_info *);
	void (*set_environment)(retro_environment_t);
	void (*set_video_refresh)(retro_video_refresh_t);
	void (*set_audio_sample)(retro_audio_sample_t);
	void (*set_audio_sample_batch)(retro_audio_sample_batch_t);
	void (*set_input_poll)(retro_input_poll_t);
	void (*set_input_state)(retro_input_state_t);
	void (*set_controller_port_device)(unsigned, unsigned);
	void (*reset)(void);
	void (*run)(void);
	size_t (*serialize_size)(void);
	bool (*serialize)(void *, size_t);
	bool (*unserialize)(const void *, size_t);
	bool (*load_game)(const struct retro_game_info *);
	void (*unload_game)(void);
	void *(*get_memory_data)(unsigned);
	size_t (*get_memory_size)(unsigned);
} cp_core;

extern cp_core cp;

// cp_open dlopens path and finds every entry point; on failure it returns a
// message (static storage) and leaves cp zeroed.
const char *cp_open(const char *path);
void cp_default_crash_signals(void);
// cp_install sets the callbacks (environment first, as cores expect).
void cp_install(void);

// Video: the core's frame is converted to RGBA into cp_frame (shared memory,
// cp_frame_cap bytes) inside the callback, since the core's buffer is only
// valid there.
extern uint8_t *cp_frame;
extern size_t cp_frame_cap;
extern unsigned cp_pixel_format;  // enum retro_pixel_format
extern unsigned cp_frame_w, cp_frame_h;
extern int cp_frame_new;          // set by a non-NULL frame during this run
extern int cp_frame_too_big;      // a frame did not fit cp_frame_cap

// Audio: stereo int16 samples collected during one retro_run.
extern int16_t *cp_audio;
extern size_t cp_audio_len, cp_audio_cap; // in int16 values

// Input: the buttons of each port (libretro joypad id bits) and the analog axes.
extern uint16_t cp_buttons[4];
extern unsigned cp_port_device[4];
// Per port: left X, left Y, right X, right Y (RETRO_DEVICE_ANALOG's range), the
// left stick as d-pad bits, and whether the core ever asked for a stick: until
// it does, its joypad reads get the left stick's d-pad bits too (the stick still
// steers a game that reads no sticks, without doubling up one that does).
extern int16_t cp_analog[4][4];
extern uint16_t cp_stick_dpad[4];
extern int cp_reads_analog[4];

// Thin calls through the function pointers, for Go.
void cp_core_log(enum retro_log_level level, const char *fmt, ...);
static inline void *cp_log_fn(void) { return (void *)cp_core_log; }
static inline void cp_call_init(void) { cp.init(); }
static inline void cp_call_deinit(void) { cp.deinit(); }
static inline void cp_call_run(void) { cp.run(); }
static inline void cp_call_reset(void) { cp.reset(); }
static inline void cp_call_system_info(struct retro_system_info *i) { cp.get_system_info(i); }
static inline void cp_call_av_info(struct retro_system_av_info *i) { cp.get_system_av_info(i); }
static inline bool cp_call_load_game(const struct retro_game_info *g) { return cp.load_game(g); }
static inline void cp_call_unload_game(void) { cp.unload_game(); }
static inline void cp_call_port_device(unsigned port, unsigned device) { cp.set_controller_port_device(port, device); }
static inline size_t cp_call_serialize_size(void) { return cp.serialize_size(); }
static inline bool cp_call_serialize(void *d, size_t n) { return cp.serialize(d, n); }
static inline bool cp_call_unserialize(const void *d, size_t n) { return cp.unserialize(d, n); }
static inline void *cp_call_memory_data(unsigned id) { return cp.get_memory_data(id); }
static inline size_t cp_call_memory_size(unsigned id) { return cp.get_memory_size(id); }

#endif
