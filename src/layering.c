/* The program each module is linked into, whole and with only the modules it may
 * use (src/meson.build): it runs nothing; that it links is the check. */
int main(void)
{
	return 0;
}
